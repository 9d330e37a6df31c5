using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Leads;

/// <summary>create_lead_with_conversation: lead and conversation both or neither; owner from the token.</summary>
[RunsOnCitus]
public sealed class CreateLeadWithConversationTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private const string Create = "select public.create_lead_with_conversation($1, $2, $3, $4)";

    private async Task<(Guid Workspace, Guid Owner)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        var created = await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Leads')");
        return (JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid(), owner);
    }

    private async Task<(long Contacts, long Leads, long Conversations)> RowsAsync(Guid workspace) => (
        await db.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace),
        await db.ScalarAsync<long>("select count(*) from leads.leads where workspace_id = $1", workspace),
        await db.ScalarAsync<long>("select count(*) from leads.conversations where workspace_id = $1", workspace));

    [Fact]
    public async Task CreateLead_WhenValid_CreatesContactLeadAndConversationOwnedByTheCaller()
    {
        var (workspace, owner) = await WorkspaceAsync();

        var result = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner,
            "select public.create_lead_with_conversation($1, $2, $3, $4, $5)",
            workspace, "+1 (555) 010-0199", "John Doe", "order", "Wants a cake")).RootElement;

        Assert.True(result.GetProperty("success").GetBoolean());
        var lead = result.GetProperty("lead_id").GetGuid();
        Assert.Equal(owner, await db.ScalarAsync<Guid>("select created_by from leads.leads where workspace_id = $1 and id = $2", workspace, lead));
        Assert.Equal(lead, await db.ScalarAsync<Guid>("select lead_id from leads.conversations where workspace_id = $1 and id = $2",
            workspace, result.GetProperty("conversation_id").GetGuid()));
        Assert.Equal("+15550100199", await db.ScalarAsync<string>("select phone_e164 from crm.contacts where workspace_id = $1", workspace));
        Assert.Equal((1L, 1L, 1L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task CreateLead_WhenThePhoneIsWrittenDifferently_ReusesTheContact()
    {
        var (workspace, owner) = await WorkspaceAsync();

        await db.ScalarAsUserAsync<string>(owner, Create, workspace, "+15550100199", "John", "order");
        await db.ScalarAsUserAsync<string>(owner, Create, workspace, "+1 555 010 0199", "John", "booking");

        Assert.Equal((1L, 2L, 2L), await RowsAsync(workspace));
    }

    [Theory]
    [InlineData("+15550100199", "John", "invalid_type", "invalid_lead_type")]
    [InlineData("", "John", "order", "phone_required")]
    [InlineData("   ", "John", "order", "phone_required")]
    [InlineData(null, "John", "order", "phone_required")]
    [InlineData("call me maybe", "John", "order", "invalid_phone")]
    [InlineData("5550100199", "John", "order", "invalid_phone")]
    [InlineData("+15550100199", "", "order", "customer_name_required")]
    public async Task CreateLead_WhenInputIsInvalid_RefusesWithItsCodeAndWritesNothing(string? phone, string name, string type, string code)
    {
        var (workspace, owner) = await WorkspaceAsync();

        var result = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner, Create, workspace, phone, name, type)).RootElement;

        Assert.False(result.GetProperty("success").GetBoolean());
        Assert.Equal(code, result.GetProperty("code").GetString());
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Theory]
    [InlineData("select public.create_lead_with_conversation($1, '+15550100199', 'J', 'order', null, 'bogus')", "invalid_conversation_status")]
    [InlineData("select public.create_lead_with_conversation($1, '+15550100199', 'J', 'order', null, 'active', 'bogus')", "invalid_lead_status")]
    public async Task CreateLead_WhenAStatusIsInvalid_RefusesAndWritesNothing(string sql, string code)
    {
        var (workspace, owner) = await WorkspaceAsync();

        var result = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner, sql, workspace)).RootElement;

        Assert.Equal(code, result.GetProperty("code").GetString());
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task CreateLead_WhenTheCallerIsNotAMember_RefusesAsNotFoundAndWritesNothing()
    {
        var (workspace, _) = await WorkspaceAsync();

        var result = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(Guid.NewGuid(), Create, workspace, "+15550100199", "J", "order")).RootElement;

        Assert.Equal("workspace_not_found", result.GetProperty("code").GetString());
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task DirectInsert_WhenALeadTypeIsNotAllowed_TheCheckConstraintRefusesIt()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var created = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner, Create, workspace, "+15550100199", "J", "order")).RootElement;
        var contact = created.GetProperty("contact_id").GetGuid();

        var e = await Assert.ThrowsAsync<PostgresException>(() => db.ScalarAsync<object>(
            "insert into leads.leads (workspace_id, contact_id, type) values ($1, $2, 'spam') returning id", workspace, contact));

        Assert.Equal(PostgresErrorCodes.CheckViolation, e.SqlState);
        Assert.Equal("leads_type_valid", await db.ViolatedConstraintAsync(e));
    }

    [Fact]
    public async Task CreateLead_WhenTwentyCallersCreateLeadsForOneNewPhoneAtOnce_OneContactAndTwentyPairs()
    {
        // 20 concurrent connections, one new phone: the contact is found-or-created once, every lead has its conversation.
        var (workspace, owner) = await WorkspaceAsync();
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < 20; i++)
        {
            connections.Add(await db.ServingDataSource.OpenConnectionAsync());
        }
        try
        {
            var start = new TaskCompletionSource();
            var calls = connections.Select(async c =>
            {
                await start.Task;
                return await DatabaseFixture.ScalarAsUserAsync<string>(c, owner, Create, workspace, "+44 20 7946 0000", "Ann", "inquiry");
            }).ToList();
            start.SetResult();
            var results = await Task.WhenAll(calls);
            Assert.All(results, r => Assert.True(JsonDocument.Parse(r).RootElement.GetProperty("success").GetBoolean(), r));
        }
        finally
        {
            foreach (var c in connections)
            {
                await c.DisposeAsync();
            }
        }

        Assert.Equal((1L, 20L, 20L), await RowsAsync(workspace));
        Assert.Equal(0L, await db.ScalarAsync<long>(
            "select count(*) from leads.leads l where workspace_id = $1 and not exists (select 1 from leads.conversations c where c.workspace_id = l.workspace_id and c.lead_id = l.id)", workspace));
    }
}
