using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace Lockstep.Tests.Leads;

/// <summary>
/// leads.claim_outbox called by many workers at once: the claim reads its candidates without a lock and
/// claims them with an update that re-checks they are still due and unleased, so no row is claimed twice.
/// </summary>
public sealed class OutboxClaimRaceTests(DatabaseFixture db, ITestOutputHelper output) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task ClaimOutbox_WhenEightWorkersClaimTwoHundredDueRowsInRoundsAtOnce_HandsOutEachRowOnce()
    {
        var owner = Guid.NewGuid();
        var workspace = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Outbox race')"))
            .RootElement.GetProperty("workspace_id").GetGuid();
        await QueueAsync(db.DataSource, db.ServingDataSource, owner, workspace, 200);

        // Rounds of 8 concurrent claims of 50, until a round finds nothing: workers that raced for the same
        // candidates come back short, never with a row another one holds.
        var claimed = new List<Guid>();
        var rounds = 0;
        while (true)
        {
            var claims = await db.RunAtOnceAsync(Enumerable.Range(0, 8)
                .Select(_ => (owner, "select leads.claim_outbox(50, interval '1 minute')::text", Array.Empty<object?>()))
                .ToList());
            var round = ClaimedRows(claims);
            if (round.Count == 0)
            {
                break;
            }
            claimed.AddRange(round);
            rounds++;
        }

        output.WriteLine($"{claimed.Count} rows claimed in {rounds} rounds");
        Assert.Equal(claimed.Count, claimed.Distinct().Count());
        Assert.Equal(200, claimed.Count);
        Assert.Equal(200L, await db.ScalarAsync<long>(
            "select count(distinct lease_token) from leads.outbox where workspace_id = $1 and claimed_until > now()", workspace));
    }

    /// <summary>The outbox ids of every claim, one entry per time a row was handed out.</summary>
    internal static List<Guid> ClaimedRows(IEnumerable<JsonElement> claims) =>
        [.. claims.SelectMany(c => c.EnumerateArray()).Select(row => row.GetProperty("outbox_id").GetGuid())];

    /// <summary>Queues <paramref name="count"/> due outbound messages in one conversation of the workspace.</summary>
    internal static async Task QueueAsync(NpgsqlDataSource owner, NpgsqlDataSource serving, Guid user, Guid workspace, int count)
    {
        await using var connection = await serving.OpenConnectionAsync();
        var lead = JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(connection, user,
            "select public.create_lead_with_conversation($1, '+15550109000', 'Race', 'inquiry')", workspace)).RootElement;
        await using (var messages = owner.CreateCommand("""
            insert into leads.messages (workspace_id, conversation_id, direction, body, status)
            select $1, $2, 'out', 'Message ' || g, 'queued' from generate_series(1, $3) g
            """))
        {
            messages.Parameters.Add(new() { Value = workspace });
            messages.Parameters.Add(new() { Value = lead.GetProperty("conversation_id").GetGuid() });
            messages.Parameters.Add(new() { Value = count });
            await messages.ExecuteNonQueryAsync();
        }
        await using var queue = owner.CreateCommand("""
            insert into leads.outbox (workspace_id, message_id, recipient)
            select m.workspace_id, m.id, '+15550109000' from leads.messages m where m.workspace_id = $1 and m.direction = 'out'
            """);
        queue.Parameters.Add(new() { Value = workspace });
        await queue.ExecuteNonQueryAsync();
    }
}
