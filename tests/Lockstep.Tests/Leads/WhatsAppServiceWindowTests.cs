using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Leads;

/// <summary>
/// WhatsApp's 24-hour customer-service window: free-form text only to a customer who wrote within the
/// last 24 hours (by Meta's timestamp on their message, delivered through the signed webhook); a template
/// message at any time, sent to the Cloud API as <c>type: "template"</c>.
/// </summary>
public sealed class WhatsAppServiceWindowTests(LeadsServerFixture server) : IClassFixture<LeadsServerFixture>
{
    private const string MessageStatus = "select status from leads.messages where workspace_id = $1 and id = $2";

    [Fact]
    public async Task Send_WhenTheCustomerLastWrote25HoursAgo_Returns422OutsideServiceWindowAndQueuesNothing()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        // Meta stamped the message 25 h ago; the webhook brings it only now, so its arrival is recent.
        (await server.CustomerWritesAsync(phoneNumberId, "+15551232001", DateTimeOffset.UtcNow.AddHours(-25))).EnsureSuccessStatusCode();
        var before = await RowsAsync(workspace);
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", new { to = "+15551232001", message = "Still interested?" });

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "outside_service_window");
        Assert.Contains("template", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await RowsAsync(workspace));
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from leads.outbox where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task Send_WhenTheCustomerNeverWrote_Returns422OutsideServiceWindowAndWritesNothing()
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp",
            new { to = "+15551232002", message = "Hello stranger", create_lead = true, customer_name = "Stranger" });

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "outside_service_window");
        Assert.Equal("0 0 0 0 0", await RowsAsync(workspace));
    }

    [Fact]
    public async Task Send_WhenTheCustomerWroteAnHourAgo_SendsTheText()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        (await server.CustomerWritesAsync(phoneNumberId, "+15551232003", DateTimeOffset.UtcNow.AddHours(-1))).EnsureSuccessStatusCode();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", new { to = "+15551232003", message = "Yes, we deliver" });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var message = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message_id").GetGuid();
        Assert.Equal("sent", await server.EventuallyAsync<string>(MessageStatus, s => s == "sent", workspace, message));
        Assert.Equal("Yes, we deliver", Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId)).Body.GetProperty("text").GetProperty("body").GetString());
    }

    [Fact]
    public async Task Send_WhenATemplateGoesToACustomerWhoNeverWrote_SendsItAsATemplateWithItsParameters()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", new
        {
            to = "+15551232004",
            template = new { name = "order_ready", language = "en_US", parameters = new[] { "Ann", "#1042" } },
            create_lead = true,
            customer_name = "Ann",
        });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var queued = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("order_ready", queued.GetProperty("template").GetProperty("name").GetString());
        var message = queued.GetProperty("message_id").GetGuid();
        Assert.Equal("sent", await server.EventuallyAsync<string>(MessageStatus, s => s == "sent", workspace, message));
        var sent = Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId)).Body;
        Assert.Equal("template", sent.GetProperty("type").GetString());
        Assert.False(sent.TryGetProperty("text", out _));
        Assert.Equal("15551232004", sent.GetProperty("to").GetString());
        Assert.Equal(message.ToString(), sent.GetProperty("biz_opaque_callback_data").GetString());
        Assert.Equal(
            """{"name":"order_ready","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"#1042"}]}]}""",
            sent.GetProperty("template").GetRawText());
        var listed = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{workspace}/conversations/{queued.GetProperty("conversation_id").GetGuid()}/messages");
        var shown = Assert.Single(listed.GetProperty("messages").EnumerateArray());
        Assert.Equal("""{"name":"order_ready","language":"en_US","parameters":["Ann","#1042"]}""", shown.GetProperty("template").GetRawText());
        Assert.Equal("[template order_ready, en_US] Ann | #1042", shown.GetProperty("body").GetString());
    }

    [Fact]
    public async Task Send_WhenATemplateHasNoParameters_SendsItWithoutComponents()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp",
            new { to = "+15551232005", template = new { name = "hello_world", language = "en" } });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await LeadsServerFixture.EventuallyAsync(() => server.CloudApi.ReceivedFor(phoneNumberId).Count == 1);
        Assert.Equal("""{"name":"hello_world","language":{"code":"en"}}""",
            Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId)).Body.GetProperty("template").GetRawText());
    }

    [Theory]
    [InlineData("""{"to":"+15551232006","message":"Hi","template":{"name":"order_ready","language":"en"}}""", "message_or_template")]
    [InlineData("""{"to":"+15551232006"}""", "message_or_template")]
    [InlineData("""{"to":"+15551232006","template":{"language":"en"}}""", "field_required")]
    [InlineData("""{"to":"+15551232006","template":{"name":"order_ready","language":"en","parameters":[1]}}""", "invalid_field")]
    [InlineData("""{"to":"+15551232006","template":{"name":"order_ready","language":"en","parameters":[null]}}""", "invalid_field")]
    [InlineData("""{"to":"+15551232006","template":{"name":"order_ready","language":"en","parameters":"Ann"}}""", "invalid_field")]
    [InlineData("""{"to":"+15551232006","template":"order_ready"}""", "invalid_field")]
    public async Task Send_WhenTheMessageOrTemplateIsMalformed_Returns400AndWritesNothing(string json, string code)
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/whatsapp", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal("0 0 0 0 0", await RowsAsync(workspace));
    }

    [Theory]
    [InlineData("""{"name":"Order Ready","language":"en"}""", "invalid_template_name")]
    [InlineData("""{"name":"order_ready","language":"english"}""", "invalid_template_language")]
    [InlineData("""{"name":"order_ready","language":"en","parameters":[" "]}""", "invalid_template_parameters")]
    public async Task Send_WhenATemplateValueIsNotValid_Returns422AndWritesNothing(string template, string code)
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/whatsapp", Http.Json($$"""{"to":"+15551232007","template":{{template}}}"""));

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal("0 0 0 0 0", await RowsAsync(workspace));
    }

    [Fact]
    public async Task Rpc_SendWhatsAppMessage_RefusesTextOutsideTheWindowAndQueuesATemplate()
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var text = await client.PostAsync("/rest/v1/rpc/send_whatsapp_message", Http.Json(
            $$"""{"p_workspace_id": "{{workspace}}", "p_to": "+15551232008", "p_message": "Hi"}"""));
        var template = await client.PostAsync("/rest/v1/rpc/send_whatsapp_message", Http.Json(
            $$$"""{"p_workspace_id": "{{{workspace}}}", "p_to": "+15551232008", "p_template": {"name": "order_ready", "language": "pt_BR", "parameters": ["Ana"]}}"""));

        Assert.Equal("outside_service_window", (await text.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var queued = await template.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(queued.GetProperty("success").GetBoolean(), queued.ToString());
        Assert.Equal("queued", queued.GetProperty("status").GetString());
    }

    /// <summary>Counts of the workspace's contacts, leads, conversations, messages and outbox rows.</summary>
    private Task<string> RowsAsync(Guid workspace) => server.ScalarAsync<string>(
        """
        select concat_ws(' ', (select count(*) from crm.contacts where workspace_id = $1), (select count(*) from leads.leads where workspace_id = $1),
          (select count(*) from leads.conversations where workspace_id = $1), (select count(*) from leads.messages where workspace_id = $1),
          (select count(*) from leads.outbox where workspace_id = $1))
        """, workspace);
}
