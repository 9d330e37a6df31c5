using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Leads;
using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Tests.Leads;

/// <summary>
/// A Lockstep server with WhatsApp configured, its outbox worker polling fast, and a real local HTTP
/// server standing in for the Cloud API (scripted per phone number id, tokens granted their numbers).
/// </summary>
public class LeadsServerFixture : DatabaseFixture
{
    public const string AppSecret = "test-app-secret";
    public const string VerifyToken = "test-verify-token";

    public CloudApiStandIn CloudApi { get; } = new();

    public WebApplicationFactory<Program> Factory { get; private set; } = null!;

    /// <summary>Whether the server's own outbox worker runs; off where a test drives its workers itself.</summary>
    protected virtual bool OutboxHosted => true;

    /// <summary>The server's outbox settings (the worker's, whether or not it runs).</summary>
    public WhatsAppOptions Options => Factory.Services.GetRequiredService<WhatsAppOptions>();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CloudApi.StartAsync();
        Factory = new LeadsFactory(ConnectionString, CloudApi.BaseUrl, OutboxHosted);
        _ = Factory.Server;
    }

    public override async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await CloudApi.DisposeAsync();
        await base.DisposeAsync();
    }

    public HttpClient Client(Guid? user = null) => Factory.Client(user);

    /// <summary>Another outbox worker on the server's database: a second server instance, as far as the outbox can tell.</summary>
    public WhatsAppOutboxWorker Worker(WhatsAppOptions options) =>
        new(Factory.Services.GetRequiredService<DatabaseHost>(), options, NullLogger<WhatsAppOutboxWorker>.Instance);

    /// <summary>
    /// Queues a text through <c>POST /whatsapp</c> to a customer who has just written (so the 24-hour
    /// window is open); returns the message id.
    /// </summary>
    public async Task<Guid> QueueAsync(Guid workspace, Guid owner, string to, string message)
    {
        var phoneNumberId = await ScalarAsync<string>("select phone_number_id from leads.whatsapp_connections where workspace_id = $1", workspace);
        (await CustomerWritesAsync(phoneNumberId, to)).EnsureSuccessStatusCode();
        using var client = Client(owner);
        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/whatsapp", new { to, message });
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message_id").GetGuid();
    }

    /// <summary>Claims due outbox rows as a worker would, for <paramref name="lease"/>.</summary>
    public async Task<OutboxClaim[]> ClaimAsync(TimeSpan lease)
    {
        var json = await ScalarAsync<string>("select leads.claim_outbox(20, $1)::text", lease);
        return JsonSerializer.Deserialize(json, LeadsJson.Default.OutboxClaimArray)!;
    }

    /// <summary>A new workspace owned by a new user.</summary>
    public async Task<(Guid Workspace, Guid Owner)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        using var client = Client(owner);
        var created = await client.PostAsJsonAsync("/api/workspaces", new { name = "Shop" });
        return ((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid(), owner);
    }

    /// <summary>A phone number id no other test uses, and a Cloud API token (<c>token-{id}</c>) that owns it.</summary>
    public string NewPhoneNumber()
    {
        var phoneNumberId = Random.Shared.NextInt64(100_000_000_000, 999_999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        CloudApi.Grant("token-" + phoneNumberId, phoneNumberId);
        return phoneNumberId;
    }

    /// <summary>A new workspace owned by a new user, connected to a new phone number id.</summary>
    public async Task<(Guid Workspace, Guid Owner, string PhoneNumberId)> ConnectedWorkspaceAsync()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var phoneNumberId = NewPhoneNumber();
        using var client = Client(owner);
        var connected = await client.PutAsJsonAsync($"/api/workspaces/{workspace}/whatsapp/connection",
            new { phone_number_id = phoneNumberId, access_token = "token-" + phoneNumberId });
        connected.EnsureSuccessStatusCode();
        return (workspace, owner, phoneNumberId);
    }

    /// <summary>Posts a webhook delivery signed with the app secret (or with the given header).</summary>
    public async Task<HttpResponseMessage> DeliverAsync(string body, string? signature = "sign")
    {
        using var client = Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/webhooks/whatsapp") { Content = Http.Json(body) };
        if (signature == "sign")
        {
            signature = WhatsAppWebhookEndpoints.Sign(System.Text.Encoding.UTF8.GetBytes(body), AppSecret);
        }
        if (signature is not null)
        {
            request.Headers.Add(WhatsAppWebhookEndpoints.SignatureHeader, signature);
        }
        return await client.SendAsync(request);
    }

    /// <summary>
    /// The customer <paramref name="from"/> writes to the number (a signed inbound delivery), at
    /// <paramref name="at"/> by Meta's timestamp (now when not given): what opens the 24-hour window.
    /// </summary>
    public Task<HttpResponseMessage> CustomerWritesAsync(string phoneNumberId, string from, DateTimeOffset? at = null) =>
        DeliverAsync(InboundPayload(phoneNumberId, from.TrimStart('+').Replace(" ", "", StringComparison.Ordinal), "wamid." + Guid.NewGuid().ToString("N"), "Hello", at: at));

    /// <summary>The same for a test without the server: the delivery goes straight to <c>leads.ingest_whatsapp</c>.</summary>
    public static async Task CustomerWroteAsync(DatabaseFixture db, string phoneNumberId, string e164)
    {
        var stored = await db.ScalarAsync<string>("select leads.ingest_whatsapp($1::jsonb)::text",
            InboundPayload(phoneNumberId, e164.TrimStart('+'), "wamid." + Guid.NewGuid().ToString("N"), "Hello"));
        Assert.Equal(1, JsonDocument.Parse(stored).RootElement.GetProperty("stored").GetInt32());
    }

    public static string InboundPayload(string phoneNumberId, string from, string waMessageId, string text, string name = "Ann Customer",
        DateTimeOffset? at = null) =>
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
                                contacts = new[] { new { profile = new { name }, wa_id = from } },
                                messages = new[]
                                {
                                    new
                                    {
                                        from, id = waMessageId, timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
                                        type = "text", text = new { body = text },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        });

    /// <summary>A status update as Meta sends it; it echoes the send's <c>biz_opaque_callback_data</c> when the send had one.</summary>
    public static string StatusPayload(string phoneNumberId, string waMessageId, string status, string? callbackData = null)
    {
        var update = new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = waMessageId,
            ["status"] = status,
            ["timestamp"] = "1731000001",
            ["recipient_id"] = "15551234567",
            ["errors"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["code"] = 131026, ["title"] = "Message undeliverable" }),
        };
        if (callbackData is not null)
        {
            update["biz_opaque_callback_data"] = callbackData;
        }
        return JsonSerializer.Serialize(new
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
                                statuses = new[] { update },
                            },
                        },
                    },
                },
            },
        });
    }

    /// <summary>Polls until <paramref name="done"/> holds, or 15 s have passed.</summary>
    public static async Task EventuallyAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!done() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
    }

    /// <summary>Polls a scalar until it satisfies <paramref name="done"/> (the worker runs in the background).</summary>
    public async Task<T> EventuallyAsync<T>(string sql, Func<T, bool> done, params object?[] args)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var value = await ScalarAsync<T>(sql, args);
            if (done(value) || DateTime.UtcNow > deadline)
            {
                return value;
            }
            await Task.Delay(25);
        }
    }

    private sealed class LeadsFactory(string connectionString, Uri cloudApi, bool outboxHosted) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment("Testing");
            builder.UseSetting("ConnectionStrings:Lockstep", connectionString);
            builder.UseSetting("Lockstep:JwtSecret", ServerFixture.JwtSecret);
            builder.UseSetting("Logging:LogLevel:Default", "Warning");
            builder.UseSetting("Lockstep:WhatsApp:AppSecret", AppSecret);
            builder.UseSetting("Lockstep:WhatsApp:VerifyToken", VerifyToken);
            builder.UseSetting("Lockstep:WhatsApp:ApiBaseUrl", cloudApi.ToString());
            builder.UseSetting("Lockstep:WhatsApp:VerifyTimeoutMs", "700");
            builder.UseSetting("Lockstep:Leads:Outbox:PollIntervalMs", "50");
            builder.UseSetting("Lockstep:Leads:Outbox:RetryBaseDelayMs", "50");
            builder.UseSetting("Lockstep:Leads:Outbox:SendTimeoutMs", "700");
            builder.UseSetting("Lockstep:Leads:Outbox:MaxAttempts", "5");
            builder.UseSetting("Lockstep:Leads:Outbox:Enabled", outboxHosted ? "true" : "false");
        }
    }
}

/// <summary>The Leads server without its own outbox worker: the test's workers are the only ones sending.</summary>
public sealed class OutboxWorkersFixture : LeadsServerFixture
{
    protected override bool OutboxHosted => false;
}
