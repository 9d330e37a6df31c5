using System.Net;
using System.Text.Json;
using Lockstep.Tests.Sessions;
using static Lockstep.Tests.Platform.Rpc.Batches;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>
/// Batches racing on the same session pack: each batch holds its own server connection and transaction,
/// all released at the same moment; the pack's invariants are then checked in SQL.
/// </summary>
public sealed class BatchRaceTests(BatchServerFixture server) : IClassFixture<BatchServerFixture>
{
    private static readonly DateTimeOffset Tomorrow = DateTimeOffset.UtcNow.Date.AddDays(1).AddHours(9);

    /// <summary>Sends every body at once (each on its own HTTP client) and returns the status and body of each answer.</summary>
    private async Task<(HttpStatusCode Status, JsonElement Body)[]> RunAtOnceAsync(Guid user, IReadOnlyList<string> bodies)
    {
        var clients = bodies.Select(_ => server.Client(user)).ToList();
        var start = new TaskCompletionSource();
        var tasks = bodies.Select(async (body, i) =>
        {
            await start.Task;
            var response = await PostAsync(clients[i], body);
            return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
        }).ToList();
        start.SetResult();
        var answers = await Task.WhenAll(tasks);
        clients.ForEach(c => c.Dispose());
        return answers;
    }

    [Fact]
    public async Task Batch_WhenThirtyBatchesEachUseTwoSessionsOfATenSessionPack_UsedEqualsTheTruesAndNeverPassesTheTotal()
    {
        // 30 concurrent batches (up to 30 server connections), 60 use_session calls on 10 sessions.
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 10);
        var body = Body(("use_session", new { p_purchase_id = pack }), ("use_session", new { p_purchase_id = pack }));

        var answers = await RunAtOnceAsync(owner, Enumerable.Repeat(body, 30).ToList());

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        var trues = answers.Sum(a => a.Body.GetProperty("results").EnumerateArray().Count(r => r.GetBoolean()));
        Assert.Equal(10, trues);
        Assert.Equal(10, await SessionsTestData.UsedAsync(server, pack));
    }

    [Fact]
    public async Task Batch_WhenThirtyBatchesEachConsumeTwoSessionsOfATenSessionPack_ExactlyFiveCommitAndNoneHalfway()
    {
        // 30 concurrent batches (up to 30 server connections); consume_session refuses when the pack is
        // empty, which rolls its whole batch back, so sessions_used only ever moves by two.
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 10);
        var body = Body(("consume_session", new { p_purchase_id = pack }), ("consume_session", new { p_purchase_id = pack }));

        var answers = await RunAtOnceAsync(owner, Enumerable.Repeat(body, 30).ToList());

        Assert.Equal(5, answers.Count(a => a.Status == HttpStatusCode.OK));
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.OK), a =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, a.Status);
            Assert.Equal("sessions_exhausted", a.Body.GetProperty("code").GetString());
        });
        Assert.Equal(10, await SessionsTestData.UsedAsync(server, pack));
    }

    [Fact]
    public async Task Batch_WhenThirtyBatchesEachBookAndConsumeOnATenSessionPack_EveryBookingHasItsSession()
    {
        // 30 concurrent batches (up to 30 server connections), each a booking plus the session it takes.
        var (owner, workspace, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 10);
        var bodies = Enumerable.Range(0, 30).Select(i => Body(
            ("create_booking", new { p_client_id = client, p_purchase_id = pack, p_starts_at = Tomorrow.AddHours(i), p_ends_at = Tomorrow.AddHours(i + 1) }),
            ("consume_session", new { p_purchase_id = pack }))).ToList();

        var answers = await RunAtOnceAsync(owner, bodies);

        Assert.Equal(10, answers.Count(a => a.Status == HttpStatusCode.OK));
        Assert.Equal(10, await SessionsTestData.UsedAsync(server, pack));
        Assert.Equal(10L, await server.ScalarAsync<long>("select count(*) from sessions.bookings where workspace_id = $1 and purchase_id = $2", workspace, pack));
    }

    [Fact]
    public async Task Batch_WhenBatchesLockTwoPacksInOppositeOrders_DeadlockVictimsAreRolledBackWholeAndAnswered503()
    {
        // 6 concurrent batches (up to 6 server connections): three use pack A then B, three B then A.
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var a = await SessionsTestData.PackAsync(server, owner, client, 100);
        var b = await SessionsTestData.PackAsync(server, owner, client, 100);
        var ab = Body(("use_session", new { p_purchase_id = a }), ("test_batch_sleep", new { p_seconds = 0.05 }), ("use_session", new { p_purchase_id = b }));
        var ba = Body(("use_session", new { p_purchase_id = b }), ("test_batch_sleep", new { p_seconds = 0.05 }), ("use_session", new { p_purchase_id = a }));

        var answers = await RunAtOnceAsync(owner, Enumerable.Range(0, 6).Select(i => i % 2 == 0 ? ab : ba).ToList());

        var committed = answers.Count(x => x.Status == HttpStatusCode.OK);
        Assert.All(answers.Where(x => x.Status != HttpStatusCode.OK), x =>
        {
            Assert.True(x.Status is HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout, x.Body.ToString());
            Assert.Contains(x.Body.GetProperty("code").GetString(), new[] { "40P01", "57014" });
        });
        Assert.True(committed >= 1);
        Assert.Equal(committed, await SessionsTestData.UsedAsync(server, a));
        Assert.Equal(committed, await SessionsTestData.UsedAsync(server, b));
    }
}
