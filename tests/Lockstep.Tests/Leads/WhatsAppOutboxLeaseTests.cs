using System.Text.Json;
using Lockstep.Leads;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Leads;

/// <summary>
/// The outbox lease under slow sends and several workers, with no worker of the server's own: every
/// request that reaches the stand-in Cloud API is counted, and a message's recorded wamid must be the
/// one the stand-in gave the send that counts.
/// </summary>
public sealed class WhatsAppOutboxLeaseTests(OutboxWorkersFixture server) : IClassFixture<OutboxWorkersFixture>
{
    private const string Outbox = "select leads.{0}::text";

    [Fact]
    public async Task Worker_WhenTwoWorkersShareABatchLongerThanTheLease_SendsEveryMessageExactlyOnce()
    {
        // Ten sends of 300 ms each in one claimed batch take 3 s; the lease is 2.5 s.
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Delay(phoneNumberId, TimeSpan.FromMilliseconds(300));
        var messages = new Dictionary<string, Guid>();
        for (var i = 0; i < 10; i++)
        {
            messages[$"Batch {i}"] = await server.QueueAsync(workspace, owner, $"+155512304{i:00}", $"Batch {i}");
        }
        var options = server.Options with { BatchSize = 10, Lease = TimeSpan.FromMilliseconds(2500), SendTimeout = TimeSpan.FromSeconds(1) };
        using var first = server.Worker(options);
        using var second = server.Worker(options);

        await Task.WhenAll(RunUntilDoneAsync(first, workspace, 10), RunUntilDoneAsync(second, workspace, 10));

        var received = server.CloudApi.ReceivedFor(phoneNumberId);
        foreach (var (text, message) in messages)
        {
            var sends = received.Where(r => r.Body.GetProperty("text").GetProperty("body").GetString() == text).ToList();
            Assert.True(sends.Count == 1, $"{text} reached the Cloud API {sends.Count} times");
            Assert.Equal(sends[0].AnsweredId, await WaMessageIdAsync(workspace, message));
        }
    }

    [Fact]
    public async Task Worker_WhenItsClaimWasTakenOverBeforeItGotToTheRow_NeitherSendsNorRecordsOverTheNewHolder()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var message = await server.QueueAsync(workspace, owner, "+15551230501", "Taken over");
        // A worker claims the row, then stalls past its 200 ms lease before it gets to it.
        var stale = (await server.ClaimAsync(TimeSpan.FromMilliseconds(200))).Where(c => c.MessageId == message).ToArray();
        Assert.Single(stale);
        await Task.Delay(400);
        // The row's new holder is still waiting for the Cloud API when the stale worker goes on.
        server.CloudApi.Script(phoneNumberId,
            new CloudApiStandIn.Reply(200, CloudApiStandIn.Accepted("wamid.HOLDER"), Hang: TimeSpan.FromSeconds(1)),
            new CloudApiStandIn.Reply(200, CloudApiStandIn.Accepted("wamid.STALE")));
        var options = server.Options with { Lease = TimeSpan.FromSeconds(10), SendTimeout = TimeSpan.FromSeconds(3) };
        using var holder = server.Worker(options);
        using var staleWorker = server.Worker(options);

        var holding = holder.RunOnceAsync(CancellationToken.None);
        await LeadsServerFixture.EventuallyAsync(() => server.CloudApi.ReceivedFor(phoneNumberId).Count == 1);
        await staleWorker.DeliverClaimsAsync(server.ServingDataSource, stale, CancellationToken.None);
        await holding;

        var received = Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId));
        Assert.Equal("wamid.HOLDER", received.AnsweredId);
        Assert.Equal("wamid.HOLDER", await WaMessageIdAsync(workspace, message));
    }

    [Fact]
    public async Task OutboxFunctions_WhenCalledWithALeaseTokenThatWasTakenOver_ChangeNothingAndTheHoldersCompletionCounts()
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        var message = await server.QueueAsync(workspace, owner, "+15551230502", "Fenced");
        var (staleRow, staleToken) = await ClaimTokenAsync(message, TimeSpan.FromMilliseconds(100));
        await Task.Delay(250);
        var (row, token) = await ClaimTokenAsync(message, TimeSpan.FromMinutes(1));
        Assert.Equal(staleRow, row);
        Assert.NotEqual(staleToken, token);
        var before = await RowAsync(workspace, message);

        Assert.Equal("""{"started": false}""", await CallAsync("begin_outbox_attempt($1, $2, $3, interval '1 minute')", workspace, row, staleToken));
        Assert.Equal("""{"recorded": false}""", await CallAsync(
            "fail_outbox($1, $2, $3, true, '131000', 'stale failure', interval '1 second', interval '1 hour', 10)", workspace, row, staleToken));
        Assert.Equal("""{"recorded": false}""", await CallAsync(
            "fail_outbox($1, $2, $3, false, '131026', 'stale failure', interval '1 second', interval '1 hour', 10)", workspace, row, staleToken));
        Assert.Equal("false", await CallAsync("release_outbox($1, $2, $3)", workspace, row, staleToken));
        Assert.Equal("false", await CallAsync("complete_outbox($1, $2, $3, 'wamid.STALE')", workspace, row, staleToken));
        Assert.Equal(before, await RowAsync(workspace, message));

        Assert.Equal("""{"started": true, "attempts": 1}""", await CallAsync("begin_outbox_attempt($1, $2, $3, interval '1 minute')", workspace, row, token));
        Assert.Equal("true", await CallAsync("complete_outbox($1, $2, $3, 'wamid.HOLDER')", workspace, row, token));
        // A completion retried after its first try committed unseen is still the holder's.
        Assert.Equal("true", await CallAsync("complete_outbox($1, $2, $3, 'wamid.HOLDER')", workspace, row, token));
        Assert.Equal("false", await CallAsync("complete_outbox($1, $2, $3, 'wamid.STALE')", workspace, row, staleToken));
        Assert.Equal("wamid.HOLDER", await WaMessageIdAsync(workspace, message));
        Assert.Equal("sent", await server.ScalarAsync<string>("select status from leads.messages where workspace_id = $1 and id = $2", workspace, message));
    }

    private Task<string> CallAsync(string call, params object[] args) => server.ScalarAsync<string>(string.Format(System.Globalization.CultureInfo.InvariantCulture, Outbox, call), args);

    /// <summary>Claims like a worker, for <paramref name="lease"/>; the message's outbox row and the lease token it was given.</summary>
    private async Task<(Guid Row, Guid Token)> ClaimTokenAsync(Guid message, TimeSpan lease)
    {
        using var claims = JsonDocument.Parse(await server.ScalarAsync<string>("select leads.claim_outbox(20, $1)::text", lease));
        var claim = claims.RootElement.EnumerateArray().Single(c => c.GetProperty("message_id").GetGuid() == message);
        return (claim.GetProperty("outbox_id").GetGuid(), claim.GetProperty("lease_token").GetGuid());
    }

    private Task<string> WaMessageIdAsync(Guid workspace, Guid message) =>
        server.ScalarAsync<string>("select wa_message_id from leads.messages where workspace_id = $1 and id = $2", workspace, message);

    private Task<string> RowAsync(Guid workspace, Guid message) => server.ScalarAsync<string>(
        """
        select jsonb_build_object('outbox', to_jsonb(o), 'message', to_jsonb(m))::text
        from leads.outbox o join leads.messages m on m.workspace_id = o.workspace_id and m.id = o.message_id
        where o.workspace_id = $1 and o.message_id = $2
        """, workspace, message);

    /// <summary>A worker's loop, cut short: passes until the workspace's <paramref name="count"/> rows are done (or 30 s).</summary>
    private async Task RunUntilDoneAsync(WhatsAppOutboxWorker worker, Guid workspace, long count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline
               && await server.ScalarAsync<long>("select count(*) from leads.outbox where workspace_id = $1 and done_at is not null", workspace) < count)
        {
            await worker.RunOnceAsync(CancellationToken.None);
            await Task.Delay(20);
        }
    }
}
