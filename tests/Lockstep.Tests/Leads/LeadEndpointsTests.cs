using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Leads;

/// <summary>POST /leads, /leads:batch and the list reads over HTTP.</summary>
public sealed class LeadEndpointsTests(LeadsServerFixture server) : IClassFixture<LeadsServerFixture>
{
    private async Task<(Guid Workspace, Guid Owner)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        using var client = server.Client(owner);
        var created = await client.PostAsJsonAsync("/api/workspaces", new { name = "Shop" });
        return ((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid(), owner);
    }

    private async Task<(long Contacts, long Leads, long Conversations)> RowsAsync(Guid workspace) => (
        await server.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.leads where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.conversations where workspace_id = $1", workspace));

    [Fact]
    public async Task PostLead_WhenValid_Returns201WithLeadAndConversation()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads",
            new { customer_phone = "+1234567890", customer_name = "John Doe", type = "order", details = "Wants an order" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.NotEqual(Guid.Empty, body.GetProperty("lead_id").GetGuid());
        Assert.NotEqual(Guid.Empty, body.GetProperty("conversation_id").GetGuid());
        Assert.Equal((1L, 1L, 1L), await RowsAsync(workspace));

        var leads = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{workspace}/leads");
        Assert.Equal("order", Assert.Single(leads.GetProperty("leads").EnumerateArray()).GetProperty("type").GetString());
        var conversations = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{workspace}/conversations");
        Assert.Equal(body.GetProperty("conversation_id").GetGuid(),
            Assert.Single(conversations.GetProperty("conversations").EnumerateArray()).GetProperty("conversation_id").GetGuid());
    }

    [Theory]
    [InlineData("""{"customer_phone":"+1234567890","customer_name":"J","type":"invalid_type"}""", "invalid_lead_type")]
    [InlineData("""{"customer_phone":"","customer_name":"J","type":"order"}""", "phone_required")]
    [InlineData("""{"customer_phone":"not a phone","customer_name":"J","type":"order"}""", "invalid_phone")]
    public async Task PostLead_WhenABusinessRuleRefuses_Returns422WithItsCodeAndWritesNothing(string json, string code)
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/leads", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Theory]
    [InlineData("{not json", "invalid_json")]
    [InlineData("""{"customer_phone":"+1234567890","type":"order"}""", "field_required")]
    [InlineData("""{"customer_phone":1234567890,"customer_name":"J","type":"order"}""", "invalid_field")]
    [InlineData("""{"customer_phone":"+1234567890","customer_name":"J","type":"order","user_id":"x"}""", "unknown_field")]
    public async Task PostLead_WhenTheBodyIsMalformed_Returns400AndWritesNothing(string json, string code)
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/leads", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostLead_WhenTheCallerBelongsToAnotherWorkspace_Returns404AndWritesNothing()
    {
        var (workspace, _) = await WorkspaceAsync();
        var (_, outsider) = await WorkspaceAsync();
        using var client = server.Client(outsider);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads",
            new { customer_phone = "+1234567890", customer_name = "J", type = "order" });
        var batch = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads:batch",
            new { leads = new[] { new { customer_phone = "+1234567890", customer_name = "J", type = "order" } } });

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "workspace_not_found");
        await Http.AssertProblemAsync(batch, HttpStatusCode.NotFound, "workspace_not_found");
        await Http.AssertProblemAsync(await client.GetAsync($"/api/workspaces/{workspace}/leads"), HttpStatusCode.NotFound, "workspace_not_found");
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostBatch_WhenOneRowIsBad_TheOthersAreCreatedAndEachRowHasItsOutcome()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads:batch", new
        {
            leads = new[]
            {
                new { customer_phone = "+1234567890", customer_name = "A", type = "order" },
                new { customer_phone = "nope", customer_name = "B", type = "order" },
                new { customer_phone = "+1234567891", customer_name = "C", type = "bogus" },
                new { customer_phone = "+1234567892", customer_name = "D", type = "support" },
            },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, body.GetProperty("created").GetInt32());
        var rows = body.GetProperty("results").EnumerateArray().ToList();
        Assert.True(rows[0].GetProperty("success").GetBoolean());
        Assert.Equal("invalid_phone", rows[1].GetProperty("code").GetString());
        Assert.Equal("invalid_lead_type", rows[2].GetProperty("code").GetString());
        Assert.True(rows[3].GetProperty("success").GetBoolean());
        Assert.Equal((2L, 2L, 2L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostBatch_WhenEmpty_Returns400()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads:batch", new { leads = Array.Empty<object>() });

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_batch_size");
    }

    [Fact]
    public async Task ListMessages_WhenTheConversationIsInAnotherWorkspace_Returns404()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var (other, otherOwner) = await WorkspaceAsync();
        using var otherClient = server.Client(otherOwner);
        var created = await otherClient.PostAsJsonAsync($"/api/workspaces/{other}/leads",
            new { customer_phone = "+1234567890", customer_name = "J", type = "order" });
        var conversation = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversation_id").GetGuid();
        using var client = server.Client(owner);

        var response = await client.GetAsync($"/api/workspaces/{workspace}/conversations/{conversation}/messages");

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "conversation_not_found");
    }
}
