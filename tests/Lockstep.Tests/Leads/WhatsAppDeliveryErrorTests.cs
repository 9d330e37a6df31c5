using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Leads;

/// <summary>
/// A send the Cloud API refuses, classified by its error code: the stand-in answers each error for real, the
/// test's own worker is the only one sending (one pass at a time), and the message is read back through
/// <c>GET .../conversations/{id}/messages</c>, as a member sees it.
/// </summary>
public sealed class WhatsAppDeliveryErrorTests(OutboxWorkersFixture server) : IClassFixture<OutboxWorkersFixture>
{
    [Theory]
    [InlineData(429, """{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."}}}""", "130429")]
    [InlineData(400, """{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056}}""", "131056")]
    [InlineData(500, """{"error":{"message":"(#131000) Something went wrong","type":"OAuthException","code":131000}}""", "131000")]
    [InlineData(503, """{"error":{"message":"(#131016) Service unavailable","type":"OAuthException","code":131016}}""", "131016")]
    [InlineData(502, "<html>Bad Gateway</html>", "http_502")]
    public async Task Send_WhenTheCloudApiAnswersARetryableError_StaysQueuedWithTheErrorUntilItsNextAttemptThenIsSentOnce(int status, string body, string code)
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId, new CloudApiStandIn.Reply(status, body));
        var (message, conversation) = await SendTextAsync(workspace, owner, phoneNumberId, "+15551231001");
        using var worker = server.Worker(server.Options with { RetryBaseDelay = TimeSpan.FromSeconds(1) });

        await worker.RunOnceAsync(CancellationToken.None);
        var waiting = await MessageAsync(workspace, owner, conversation, message);
        await worker.RunOnceAsync(CancellationToken.None);
        var receivedWhileWaiting = server.CloudApi.ReceivedFor(phoneNumberId).Count;

        Assert.Equal("queued", waiting.GetProperty("status").GetString());
        Assert.Equal(1, waiting.GetProperty("attempts").GetInt32());
        Assert.Equal(code, waiting.GetProperty("last_error").GetProperty("code").GetString());
        Assert.StartsWith($"HTTP {status}: ", waiting.GetProperty("last_error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, waiting.GetProperty("error").ValueKind);
        var next = waiting.GetProperty("next_attempt_at").GetDateTimeOffset();
        Assert.InRange(next, DateTimeOffset.UtcNow.AddMilliseconds(300), DateTimeOffset.UtcNow.AddSeconds(2));
        Assert.Equal(1, receivedWhileWaiting); // claiming waits out next_attempt_at

        await Task.Delay(next - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(100));
        await worker.RunOnceAsync(CancellationToken.None);
        await worker.RunOnceAsync(CancellationToken.None);

        var sent = await MessageAsync(workspace, owner, conversation, message);
        Assert.Equal("sent", sent.GetProperty("status").GetString());
        Assert.Equal(2, sent.GetProperty("attempts").GetInt32());
        Assert.Equal(code, sent.GetProperty("last_error").GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, sent.GetProperty("next_attempt_at").ValueKind);
        Assert.Equal([status, 200], server.CloudApi.ReceivedFor(phoneNumberId).Select(r => r.AnsweredStatus));
    }

    [Theory]
    [InlineData(400, """{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026}}""", "131026")]
    [InlineData(400, """{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}}""", "131047")]
    [InlineData(400, """{"error":{"message":"(#131048) Spam rate limit hit","type":"OAuthException","code":131048}}""", "131048")]
    [InlineData(400, """{"error":{"message":"(#131008) Required parameter is missing","type":"OAuthException","code":131008}}""", "131008")]
    [InlineData(400, """{"error":{"message":"(#131009) Parameter value is not valid","type":"OAuthException","code":131009}}""", "131009")]
    [InlineData(404, """{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001}}""", "132001")]
    [InlineData(401, """{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190}}""", "190")]
    [InlineData(400, """{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}""", "100")]
    [InlineData(403, "", "http_403")]
    public async Task Send_WhenTheCloudApiAnswersANeverRetryError_MarksItFailedAtOnceWithTheLastErrorAndNeverSendsAgain(int status, string body, string code)
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId, new CloudApiStandIn.Reply(status, body));
        var (message, conversation) = await SendTextAsync(workspace, owner, phoneNumberId, "+15551231002");
        // No backoff: were the error retried, the second pass would send again.
        using var worker = server.Worker(server.Options with { RetryBaseDelay = TimeSpan.Zero });

        await worker.RunOnceAsync(CancellationToken.None);
        await worker.RunOnceAsync(CancellationToken.None);

        var failed = await MessageAsync(workspace, owner, conversation, message);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Equal(1, failed.GetProperty("attempts").GetInt32());
        Assert.Equal(code, failed.GetProperty("last_error").GetProperty("code").GetString());
        var reason = failed.GetProperty("last_error").GetProperty("message").GetString();
        Assert.StartsWith($"HTTP {status}: ", reason, StringComparison.Ordinal);
        Assert.Equal(reason, failed.GetProperty("error").GetString());
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("next_attempt_at").ValueKind);
        Assert.Equal(JsonValueKind.String, failed.GetProperty("failed_at").ValueKind);
        Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId));
    }

    [Fact]
    public async Task Send_WhenRetriesKeepFailing_WaitsTwiceAsLongEachTimeUpToTheCapThenGivesUpAfterMaxAttempts()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        server.CloudApi.Script(phoneNumberId, Enumerable.Repeat(new CloudApiStandIn.Reply(503, """{"error":{"message":"(#131016) Service unavailable","code":131016}}"""), 4).ToArray());
        var (message, conversation) = await SendTextAsync(workspace, owner, phoneNumberId, "+15551231003");
        using var worker = server.Worker(server.Options with
        {
            RetryBaseDelay = TimeSpan.FromSeconds(10), RetryMaxDelay = TimeSpan.FromSeconds(30), MaxAttempts = 4,
        });
        var waits = new List<double>();

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            await worker.RunOnceAsync(CancellationToken.None);
            waits.Add(await server.ScalarAsync<double>(
                """
                select coalesce((select extract(epoch from next_attempt_at - now())::float8
                                 from leads.outbox where workspace_id = $1 and message_id = $2 and done_at is null), 0)
                """,
                workspace, message));
            // The backoff is what is measured, so it is not waited out: the row is made due at once.
            await server.ScalarAsync<int>("update leads.outbox set next_attempt_at = now() where workspace_id = $1 and message_id = $2 returning 1", workspace, message);
        }

        Assert.Equal([10d, 20d, 30d], waits.Take(3).Select(wait => Math.Round(wait)));
        var failed = await MessageAsync(workspace, owner, conversation, message);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Equal(4, failed.GetProperty("attempts").GetInt32());
        Assert.Equal("Gave up after 4 attempts; the last: HTTP 503: (#131016) Service unavailable", failed.GetProperty("error").GetString());
        Assert.Equal(4, server.CloudApi.ReceivedFor(phoneNumberId).Count);
    }

    private async Task<(Guid Message, Guid Conversation)> SendTextAsync(Guid workspace, Guid owner, string phoneNumberId, string to)
    {
        (await server.CustomerWritesAsync(phoneNumberId, to)).EnsureSuccessStatusCode();
        using var client = server.Client(owner);
        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", new { to, message = "Your order is ready" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var queued = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("queued", queued.GetProperty("status").GetString());
        Assert.Equal(0, queued.GetProperty("attempts").GetInt32());
        Assert.Equal(JsonValueKind.Null, queued.GetProperty("last_error").ValueKind);
        return (queued.GetProperty("message_id").GetGuid(), queued.GetProperty("conversation_id").GetGuid());
    }

    private async Task<JsonElement> MessageAsync(Guid workspace, Guid owner, Guid conversation, Guid message)
    {
        using var client = server.Client(owner);
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{workspace}/conversations/{conversation}/messages");
        return list.GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("message_id").GetGuid() == message).Clone();
    }
}
