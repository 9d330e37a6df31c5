using System.Net;
using System.Text;
using System.Text.Json;
using Lockstep.Leads;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Leads;

/// <summary>/api/webhooks/whatsapp: the handshake, the signature, ingestion exactly once.</summary>
public sealed class WhatsAppWebhookTests(LeadsServerFixture server) : IClassFixture<LeadsServerFixture>
{
    private async Task<(long Contacts, long Leads, long Conversations, long Messages)> RowsAsync(Guid workspace) => (
        await server.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.leads where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.conversations where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.messages where workspace_id = $1", workspace));

    private static string WaId() => "wamid." + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Verify_WhenTheTokenMatches_EchoesTheChallengeAsText()
    {
        using var client = server.Client();

        var response = await client.GetAsync($"/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={LeadsServerFixture.VerifyToken}&hub.challenge=1158201444");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("1158201444", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")]
    [InlineData("hub.mode=unsubscribe&hub.verify_token=test-verify-token&hub.challenge=1")]
    [InlineData("hub.challenge=1")]
    public async Task Verify_WhenTheTokenOrModeIsWrong_Returns403(string query)
    {
        using var client = server.Client();

        var response = await client.GetAsync($"/api/webhooks/whatsapp?{query}");

        await Http.AssertProblemAsync(response, HttpStatusCode.Forbidden, "verify_token_invalid");
    }

    [Theory]
    [InlineData("bad")]
    [InlineData("none")]
    [InlineData("other-body")]
    [InlineData("other-secret")]
    [InlineData("garbage")]
    public async Task Receive_WhenTheSignatureIsNotValid_Returns401AndStoresNothing(string kind)
    {
        var (workspace, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var body = LeadsServerFixture.InboundPayload(phoneNumberId, "15551230001", WaId(), "Hello");
        var signature = kind switch
        {
            "bad" => "sha256=" + new string('0', 64),
            "none" => null,
            "other-body" => WhatsAppWebhookEndpoints.Sign(Encoding.UTF8.GetBytes(body + " "), LeadsServerFixture.AppSecret),
            "other-secret" => WhatsAppWebhookEndpoints.Sign(Encoding.UTF8.GetBytes(body), "not-the-secret"),
            _ => "sha256=zz-not-hex",
        };

        var response = await server.DeliverAsync(body, signature);

        await Http.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "signature_invalid");
        Assert.Equal((0L, 0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task Receive_WhenANewCustomerWrites_CreatesContactLeadConversationAndMessage()
    {
        var (workspace, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var waId = WaId();

        var response = await server.DeliverAsync(LeadsServerFixture.InboundPayload(phoneNumberId, "15551230002", waId, "Do you deliver?", "Maria"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((1L, 1L, 1L, 1L), await RowsAsync(workspace));
        Assert.Equal("Maria", await server.ScalarAsync<string>("select name from crm.contacts where workspace_id = $1 and phone_e164 = '+15551230002'", workspace));
        Assert.Equal("Do you deliver?", await server.ScalarAsync<string>(
            "select body from leads.messages where workspace_id = $1 and wa_message_id = $2 and direction = 'in'", workspace, waId));
        Assert.Equal("whatsapp", await server.ScalarAsync<string>("select source from leads.leads where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task Receive_WhenAKnownCustomerWritesAgain_AppendsToTheirOpenConversation()
    {
        var (workspace, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();

        await server.DeliverAsync(LeadsServerFixture.InboundPayload(phoneNumberId, "15551230003", WaId(), "Hi"));
        await server.DeliverAsync(LeadsServerFixture.InboundPayload(phoneNumberId, "15551230003", WaId(), "Still there?"));

        Assert.Equal((1L, 1L, 1L, 2L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task Receive_WhenTheSameDeliveryArrives20TimesAtOnce_OneLeadOneConversationOneMessage()
    {
        // 20 concurrent HTTP deliveries of one signed payload (WhatsApp retrying), released together.
        var (workspace, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var body = LeadsServerFixture.InboundPayload(phoneNumberId, "15551230004", WaId(), "Order 2 cakes");
        var start = new TaskCompletionSource();
        var deliveries = Enumerable.Range(0, 20).Select(async _ =>
        {
            await start.Task;
            return await server.DeliverAsync(body);
        }).ToList();

        start.SetResult();
        var responses = await Task.WhenAll(deliveries);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal((1L, 1L, 1L, 1L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task Receive_WhenDistinctMessagesOfOneNewCustomerArriveAtOnce_OneLeadAndEveryMessage()
    {
        // 20 concurrent deliveries, 20 distinct message ids from one new customer: one lead, 20 messages.
        var (workspace, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var start = new TaskCompletionSource();
        var deliveries = Enumerable.Range(0, 20).Select(async i =>
        {
            await start.Task;
            return await server.DeliverAsync(LeadsServerFixture.InboundPayload(phoneNumberId, "15551230005", WaId(), $"Message {i}"));
        }).ToList();

        start.SetResult();
        await Task.WhenAll(deliveries);

        Assert.Equal((1L, 1L, 1L, 20L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task Ingest_WhenDeliveriesNameTwoCustomersInOppositeOrders_NeverDeadlocksAndStoresEveryMessageOnce()
    {
        // Called in SQL, not over HTTP: the server would retry a deadlock and hide it. 3 rounds of 40
        // deliveries at once, each with a message from each of two new customers, half of them in each order.
        var (workspace, _, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var failures = new List<string>();
        for (var round = 0; round < 3; round++)
        {
            var (first, second) = ($"1555440{round}001", $"1555440{round}002");
            var payloads = Enumerable.Range(0, 40)
                .Select(i => TwoMessagePayload(phoneNumberId, i % 2 == 0 ? [first, second] : [second, first]))
                .ToList();
            var connections = new List<NpgsqlConnection>();
            foreach (var _ in payloads)
            {
                connections.Add(await server.ServingDataSource.OpenConnectionAsync());
            }
            var start = new TaskCompletionSource();
            var deliveries = payloads.Select(async (payload, i) =>
            {
                await start.Task;
                try
                {
                    await DatabaseFixture.ScalarAsUserAsync<string>(connections[i], null, "select leads.ingest_whatsapp($1::jsonb)::text", payload);
                    return null;
                }
                catch (PostgresException e)
                {
                    return e.SqlState;
                }
            }).ToList();
            start.SetResult();
            failures.AddRange((await Task.WhenAll(deliveries)).OfType<string>());
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        Assert.Empty(failures);
        Assert.Equal((6L, 6L, 6L, 240L), await RowsAsync(workspace));
        Assert.Equal(240L, await server.ScalarAsync<long>(
            "select count(distinct wa_message_id) from leads.messages where workspace_id = $1", workspace));
    }

    private static string TwoMessagePayload(string phoneNumberId, string[] senders) =>
        JsonSerializer.Serialize(new
        {
            @object = "whatsapp_business_account",
            entry = new[]
            {
                new
                {
                    id = "WABA",
                    changes = new[]
                    {
                        new
                        {
                            field = "messages",
                            value = new
                            {
                                messaging_product = "whatsapp",
                                metadata = new { display_phone_number = "15550000000", phone_number_id = phoneNumberId },
                                contacts = senders.Select(from => new { profile = new { name = "Customer " + from }, wa_id = from }).ToArray(),
                                messages = senders.Select(from => new
                                {
                                    from, id = WaId(), timestamp = "1731000000", type = "text", text = new { body = "Hello from " + from },
                                }).ToArray(),
                            },
                        },
                    },
                },
            },
        });

    [Fact]
    public async Task Receive_WhenThePhoneNumberIdIsNotConnected_AcknowledgesAndStoresNothing()
    {
        var before = await server.ScalarAsync<long>("select count(*) from leads.messages");

        var response = await server.DeliverAsync(LeadsServerFixture.InboundPayload("999000111222333", "15551230006", WaId(), "Hello?"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(before, await server.ScalarAsync<long>("select count(*) from leads.messages"));
    }

    [Fact]
    public async Task Receive_WhenSignedButNotJson_Returns400()
    {
        var response = await server.DeliverAsync("{not json");

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_json");
    }

    [Theory]
    [InlineData("ingest_whatsapp")]
    [InlineData("claim_outbox")]
    public async Task Rpc_WhenAClientCallsAServerOnlyFunction_ItIsNotFound(string function)
    {
        using var client = server.Client(Guid.NewGuid());

        var response = await client.PostAsync($"/rest/v1/rpc/{function}", Http.Json("""{"p_payload":{}}"""));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
