using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Leads;
using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Tests.Leads;

/// <summary>POST /whatsapp and the outbox worker against a real local stand-in for the Cloud API.</summary>
public sealed class WhatsAppOutboundTests(LeadsServerFixture server) : IClassFixture<LeadsServerFixture>
{
    private const string MessageStatus = "select status from leads.messages where workspace_id = $1 and id = $2";

    private async Task<(Guid Workspace, Guid Message, JsonElement Body)> SendAsync(Guid workspace, Guid owner, object request)
    {
        using var client = server.Client(owner);
        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (workspace, body.GetProperty("message_id").GetGuid(), body);
    }

    [Fact]
    public async Task Send_WhenTheCloudApiSucceeds_SendsTheTextWithTheBearerTokenAndMarksItSent()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();

        await server.CustomerWritesAsync(phoneNumberId, "+1 555 123 0101");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+1 555 123 0101", message = "Your order is ready" });

        Assert.Equal("sent", await server.EventuallyAsync<string>(MessageStatus, s => s == "sent", workspace, message));
        var received = Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId));
        Assert.Equal($"Bearer token-{phoneNumberId}", received.Authorization);
        Assert.Equal("whatsapp", received.Body.GetProperty("messaging_product").GetString());
        Assert.Equal("15551230101", received.Body.GetProperty("to").GetString());
        Assert.Equal("text", received.Body.GetProperty("type").GetString());
        Assert.Equal("Your order is ready", received.Body.GetProperty("text").GetProperty("body").GetString());
        Assert.StartsWith("wamid.", await server.ScalarAsync<string>("select wa_message_id from leads.messages where workspace_id = $1 and id = $2", workspace, message));
    }

    [Fact]
    public async Task Send_WhenTheCloudApiFailsTwiceThenSucceeds_SendsExactlyOnceAndMarksItSent()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId,
            new CloudApiStandIn.Reply(503, """{"error":{"message":"Service temporarily unavailable","code":2}}"""),
            new CloudApiStandIn.Reply(500, """{"error":{"message":"Internal error","code":1}}"""));

        await server.CustomerWritesAsync(phoneNumberId, "+15551230102");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+15551230102", message = "Hello" });

        Assert.Equal("sent", await server.EventuallyAsync<string>(MessageStatus, s => s == "sent", workspace, message));
        var received = server.CloudApi.ReceivedFor(phoneNumberId);
        Assert.Equal([503, 500, 200], received.Select(r => r.AnsweredStatus));
        Assert.Equal(3, await server.ScalarAsync<int>("select attempts from leads.outbox where workspace_id = $1 and message_id = $2", workspace, message));
        await Task.Delay(300); // several poll intervals: nothing is sent again
        Assert.Equal(3, server.CloudApi.ReceivedFor(phoneNumberId).Count);
    }

    [Fact]
    public async Task Send_WhenTheCloudApiAnswers400_MarksItFailedWithTheReasonAndDoesNotRetry()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId,
            new CloudApiStandIn.Reply(400, """{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}"""));

        await server.CustomerWritesAsync(phoneNumberId, "+15551230103");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+15551230103", message = "Hello" });

        Assert.Equal("failed", await server.EventuallyAsync<string>(MessageStatus, s => s == "failed", workspace, message));
        var error = await server.ScalarAsync<string>("select error from leads.messages where workspace_id = $1 and id = $2", workspace, message);
        Assert.Contains("400", error, StringComparison.Ordinal);
        Assert.Contains("Invalid parameter", error, StringComparison.Ordinal);
        await Task.Delay(300);
        Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId));
    }

    [Fact]
    public async Task Send_WhenTheCloudApiEchoesTheAccessTokenInItsError_KeepsTheTokenOutOfTheReason()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var token = "token-" + phoneNumberId;
        server.CloudApi.Script(phoneNumberId,
            new CloudApiStandIn.Reply(401, $$$"""{"error":{"message":"Malformed access token {{{token}}}","type":"OAuthException","code":190}}"""));

        await server.CustomerWritesAsync(phoneNumberId, "+15551230107");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+15551230107", message = "Hello" });

        Assert.Equal("failed", await server.EventuallyAsync<string>(MessageStatus, s => s == "failed", workspace, message));
        // The reason is also the worker's log line.
        var error = await server.ScalarAsync<string>("select error from leads.messages where workspace_id = $1 and id = $2", workspace, message);
        var lastError = await server.ScalarAsync<string>("select last_error from leads.outbox where workspace_id = $1 and message_id = $2", workspace, message);
        Assert.Contains("Malformed access token", error, StringComparison.Ordinal);
        Assert.DoesNotContain(token, error, StringComparison.Ordinal);
        Assert.DoesNotContain(token, lastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_WhenTheCloudApiHangs_TimesOutAndRetries()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId, new CloudApiStandIn.Reply(200, "{}", Hang: TimeSpan.FromSeconds(30)));

        await server.CustomerWritesAsync(phoneNumberId, "+15551230104");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+15551230104", message = "Hello" });

        Assert.Equal("sent", await server.EventuallyAsync<string>(MessageStatus, s => s == "sent", workspace, message));
        Assert.Equal(2, server.CloudApi.ReceivedFor(phoneNumberId).Count);
        Assert.StartsWith("timeout", await server.ScalarAsync<string>(
            "select last_error from leads.outbox where workspace_id = $1 and message_id = $2", workspace, message), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_WhenAlwaysFailingWith5xx_GivesUpAfterMaxAttempts()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId, Enumerable.Repeat(new CloudApiStandIn.Reply(502, "bad gateway"), 10).ToArray());

        await server.CustomerWritesAsync(phoneNumberId, "+15551230105");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+15551230105", message = "Hello" });

        Assert.Equal("failed", await server.EventuallyAsync<string>(MessageStatus, s => s == "failed", workspace, message));
        Assert.Equal(5, server.CloudApi.ReceivedFor(phoneNumberId).Count); // Lockstep:Leads:Outbox:MaxAttempts = 5
        Assert.Equal("Gave up after 5 attempts; the last: HTTP 502: bad gateway",
            await server.ScalarAsync<string>("select error from leads.messages where workspace_id = $1 and id = $2", workspace, message));
    }

    [Fact]
    public async Task Send_WithCreateLead_WritesLeadConversationMessageAndOutboxTogether()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        await server.CustomerWritesAsync(phoneNumberId, "+15551230106");

        var (_, message, body) = await SendAsync(workspace, owner,
            new { to = "+15551230106", message = "Hello John!", create_lead = true, customer_name = "John Doe" });

        var lead = body.GetProperty("lead_id").GetGuid();
        Assert.Equal(owner, await server.ScalarAsync<Guid>("select created_by from leads.leads where workspace_id = $1 and id = $2", workspace, lead));
        Assert.Equal(lead, await server.ScalarAsync<Guid>("select lead_id from leads.conversations where workspace_id = $1 and id = $2",
            workspace, body.GetProperty("conversation_id").GetGuid()));
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from leads.outbox where workspace_id = $1 and message_id = $2", workspace, message));
    }

    [Theory]
    [InlineData("""{"to":"+15551230107","message":"Hi","create_lead":true}""", "customer_name_required")]
    [InlineData("""{"to":"","message":"Hi"}""", "phone_required")]
    [InlineData("""{"to":"abc","message":"Hi"}""", "invalid_phone")]
    [InlineData("""{"to":"+15551230107","message":"  "}""", "message_required")]
    public async Task Send_WhenARuleRefuses_Returns422AndWritesNothing(string json, string code)
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/whatsapp", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, code);
        await AssertNothingWrittenAsync(workspace);
    }

    [Theory]
    [InlineData("{", "invalid_json")]
    [InlineData("""{"message":"Hi"}""", "field_required")]
    [InlineData("""{"to":"+15551230107","message":"Hi","create_lead":"yes"}""", "invalid_field")]
    public async Task Send_WhenTheBodyIsMalformed_Returns400AndWritesNothing(string json, string code)
    {
        var (workspace, owner, _) = await server.ConnectedWorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/whatsapp", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        await AssertNothingWrittenAsync(workspace);
    }

    [Fact]
    public async Task Send_WhenTheCallerBelongsToAnotherWorkspace_Returns404AndWritesNothing()
    {
        var (workspace, _, _) = await server.ConnectedWorkspaceAsync();
        var (_, outsider, _) = await server.ConnectedWorkspaceAsync();
        var outsidersNumber = server.NewPhoneNumber();
        using var client = server.Client(outsider);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", new { to = "+15551230108", message = "Hi" });
        var connect = await client.PutAsJsonAsync($"/api/workspaces/{workspace}/whatsapp/connection",
            new { phone_number_id = outsidersNumber, access_token = "token-" + outsidersNumber });

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "workspace_not_found");
        await Http.AssertProblemAsync(connect, HttpStatusCode.NotFound, "workspace_not_found");
        await AssertNothingWrittenAsync(workspace);
    }

    [Fact]
    public async Task Connect_WhenTheNumberBelongsToAnotherWorkspace_Returns409AndNeverEchoesTheToken()
    {
        // One business, two workspaces: its token owns the number the first workspace connected.
        var (_, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Grant("secret-token-xyz", phoneNumberId, "4455667788");
        var (workspace, owner) = await server.WorkspaceAsync();
        using var client = server.Client(owner);

        var taken = await client.PutAsJsonAsync($"/api/workspaces/{workspace}/whatsapp/connection",
            new { phone_number_id = phoneNumberId, access_token = "secret-token-xyz" });
        var own = await client.PutAsJsonAsync($"/api/workspaces/{workspace}/whatsapp/connection",
            new { phone_number_id = "4455667788", access_token = "secret-token-xyz" });

        await Http.AssertProblemAsync(taken, HttpStatusCode.Conflict, "phone_number_taken");
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.DoesNotContain("secret-token-xyz", await own.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_WhenTwentyWorkspacesConnectOneNumberAtOnce_ExactlyOneSucceeds()
    {
        // 20 concurrent leads.store_whatsapp_connection calls from 20 workspaces for one phone number id.
        var phoneNumberId = Random.Shared.NextInt64(100_000_000, 999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var owners = new List<(Guid Owner, Guid Workspace)>();
        for (var i = 0; i < 20; i++)
        {
            var owner = Guid.NewGuid();
            var created = await server.ScalarAsUserAsync<string>(owner, "select public.create_workspace('W')");
            owners.Add((owner, JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid()));
        }
        var start = new TaskCompletionSource();
        var calls = owners.Select(async o =>
        {
            await using var connection = await server.DataSource.OpenConnectionAsync();
            await start.Task;
            return await DatabaseFixture.ScalarAsUserAsync<string>(connection, o.Owner,
                "select leads.store_whatsapp_connection($1, $2, 'token')::text", o.Workspace, phoneNumberId);
        }).ToList();

        start.SetResult();
        var results = await Task.WhenAll(calls);

        Assert.Equal(1, results.Count(r => JsonDocument.Parse(r).RootElement.GetProperty("success").GetBoolean()));
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from leads.whatsapp_connections where phone_number_id = $1", phoneNumberId));
    }

    [Fact]
    public async Task Worker_WhenFiveWorkersRaceOverThirtyMessages_EachIsSentExactlyOnce()
    {
        // 30 queued messages; the hosted worker plus 4 more instances claim concurrently (SKIP LOCKED).
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var options = server.Factory.Services.GetRequiredService<WhatsAppOptions>() with { BatchSize = 3 };
        var database = server.Factory.Services.GetRequiredService<DatabaseHost>();
        var workers = Enumerable.Range(0, 4).Select(_ => new WhatsAppOutboxWorker(database, options, NullLogger<WhatsAppOutboxWorker>.Instance)).ToList();
        var messages = new List<Guid>();
        for (var i = 0; i < 30; i++)
        {
            await server.CustomerWritesAsync(phoneNumberId, $"+155512302{i:00}");
            messages.Add((await SendAsync(workspace, owner, new { to = $"+155512302{i:00}", message = $"Message {i}" })).Message);
        }

        await Task.WhenAll(workers.Select(async w =>
        {
            for (var i = 0; i < 10; i++)
            {
                await w.RunOnceAsync(CancellationToken.None);
            }
        }));
        await server.EventuallyAsync<long>("select count(*) from leads.messages where workspace_id = $1 and status = 'sent'", n => n == 30, workspace);

        var sentBodies = server.CloudApi.ReceivedFor(phoneNumberId).Select(r => r.Body.GetProperty("text").GetProperty("body").GetString()).ToList();
        Assert.Equal(30, sentBodies.Count);
        Assert.Equal(30, sentBodies.Distinct().Count());
        workers.ForEach(w => w.Dispose());
    }

    [Fact]
    public async Task StatusWebhook_WhenDeliveredThenReadThenLateSent_MovesOnlyForward()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        await server.CustomerWritesAsync(phoneNumberId, "+15551230199");
        var (_, message, _) = await SendAsync(workspace, owner, new { to = "+15551230199", message = "Hello" });
        await server.EventuallyAsync<string>(MessageStatus, s => s == "sent", workspace, message);
        var waId = await server.ScalarAsync<string>("select wa_message_id from leads.messages where workspace_id = $1 and id = $2", workspace, message);

        await server.DeliverAsync(LeadsServerFixture.StatusPayload(phoneNumberId, waId, "delivered"));
        await server.DeliverAsync(LeadsServerFixture.StatusPayload(phoneNumberId, waId, "read"));
        await server.DeliverAsync(LeadsServerFixture.StatusPayload(phoneNumberId, waId, "delivered"));

        Assert.Equal("read", await server.ScalarAsync<string>(MessageStatus, workspace, message));
    }

    private async Task AssertNothingWrittenAsync(Guid workspace)
    {
        Assert.Equal(0L, await server.ScalarAsync<long>(
            """
            select (select count(*) from crm.contacts where workspace_id = $1) + (select count(*) from leads.leads where workspace_id = $1)
                 + (select count(*) from leads.conversations where workspace_id = $1) + (select count(*) from leads.messages where workspace_id = $1)
                 + (select count(*) from leads.outbox where workspace_id = $1)
            """, workspace));
    }
}
