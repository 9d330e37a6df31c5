using System.Text.Json;
using Lockstep.Leads;
using Lockstep.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Tests.Reliability;

/// <summary>Graceful shutdown: a stopping outbox worker gives back the rows it claimed but did not try.</summary>
[RunsOnCitus]
public sealed class ShutdownTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task OutboxWorker_WhenStoppedWithClaimedRows_ReleasesThemAtOnceWithTheirAttempt()
    {
        var owner = Guid.NewGuid();
        var created = await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Outbox')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        var phoneNumberId = Random.Shared.NextInt64(100_000_000_000, 999_999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var connected = await db.ScalarAsUserAsync<string>(owner, "select leads.store_whatsapp_connection($1, $2, 'token')::text", workspace, phoneNumberId);
        Assert.True(JsonDocument.Parse(connected).RootElement.GetProperty("success").GetBoolean(), connected);
        for (var i = 0; i < 3; i++)
        {
            await Leads.LeadsServerFixture.CustomerWroteAsync(db, phoneNumberId, $"+15551239{i:000}");
            var sent = await db.ScalarAsUserAsync<string>(owner,
                "select public.send_whatsapp_message(p_workspace_id => $1, p_to => $2, p_message => 'hi')", workspace, $"+15551239{i:000}");
            Assert.True(JsonDocument.Parse(sent).RootElement.GetProperty("success").GetBoolean(), sent);
        }
        var json = await db.ScalarAsync<string>("select leads.claim_outbox(10, interval '1 hour')::text");
        var claims = JsonSerializer.Deserialize(json, LeadsJson.Default.OutboxClaimArray)!.Where(c => c.WorkspaceId == workspace).ToArray();
        Assert.Equal(3, claims.Length);

        var options = WhatsAppOptions.From(new ConfigurationBuilder().Build());
        using var worker = new WhatsAppOutboxWorker(null!, options, NullLogger<WhatsAppOutboxWorker>.Instance);
        await worker.DeliverClaimsAsync(db.DataSource, claims, new CancellationToken(canceled: true));

        Assert.Equal(0, await db.ScalarAsync<long>(
            "select count(*) from leads.outbox where workspace_id = $1 and (claimed_until is not null or attempts <> 0 or done_at is not null)", workspace));
        Assert.Contains(workspace.ToString(), await db.ScalarAsync<string>("select leads.claim_outbox(10, interval '1 hour')::text"), StringComparison.Ordinal);
    }
}
