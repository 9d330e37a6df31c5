using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lockstep.Tests.Support;

/// <summary>
/// A real HTTP server on 127.0.0.1 standing in for the WhatsApp Cloud API (Graph API):
/// <c>POST /{phone-number-id}/messages</c> answers from a per-number script (status, body, or a hang),
/// then 200 with a fresh wamid (after the number's <see cref="Delay"/>, if any); every request is recorded
/// when it arrives, before it is answered, as Meta has it once it arrived; <c>GET /{phone-number-id}</c> answers as Graph does for the bearer token:
/// 200 with the number's fields when <see cref="Grant"/> gave the token that number, 400 (code 100) for a
/// token that cannot read it, 401 (code 190) for a token it never issued; a per-number lookup script comes first.
/// </summary>
public sealed class CloudApiStandIn : IAsyncDisposable
{
    /// <summary>A scripted answer; <paramref name="Arrived"/> runs once the request is recorded, before it is answered.</summary>
    public sealed record Reply(int Status, string Body = "{}", TimeSpan? Hang = null, Action? Arrived = null);

    public sealed record Received(string PhoneNumberId, string? Authorization, JsonElement Body, int AnsweredStatus, string AnsweredBody)
    {
        /// <summary>The wamid this request was answered with; null when it was not accepted.</summary>
        public string? AnsweredId
        {
            get
            {
                try
                {
                    using var answer = JsonDocument.Parse(AnsweredBody);
                    return answer.RootElement.TryGetProperty("messages", out var messages) ? messages[0].GetProperty("id").GetString() : null;
                }
                catch (JsonException)
                {
                    return null;
                }
            }
        }
    }

    public sealed record Lookup(string PhoneNumberId, string? Authorization, string Query, int AnsweredStatus);

    private readonly ConcurrentDictionary<string, ConcurrentQueue<Reply>> _scripts = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Reply>> _lookupScripts = new();
    private readonly ConcurrentDictionary<string, TimeSpan> _delays = new();
    private readonly ConcurrentDictionary<string, HashSet<string>> _grants = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Received> _received = new();
    private readonly ConcurrentQueue<Lookup> _lookups = new();
    private WebApplication? _app;

    public Uri BaseUrl { get; private set; } = null!;

    public void Script(string phoneNumberId, params Reply[] replies) =>
        _scripts[phoneNumberId] = new ConcurrentQueue<Reply>(replies);

    /// <summary>Answers every unscripted send to this number (200 with a fresh wamid) only after <paramref name="latency"/>.</summary>
    public void Delay(string phoneNumberId, TimeSpan latency) => _delays[phoneNumberId] = latency;

    /// <summary>The body of a 200 the Cloud API gives an accepted message.</summary>
    public static string Accepted(string waMessageId) =>
        $$"""{"messaging_product":"whatsapp","contacts":[{"input":"15550000000","wa_id":"15550000000"}],"messages":[{"id":"{{waMessageId}}"}]}""";

    /// <summary>Scripts the next answers to <c>GET /{phone-number-id}</c>, before any grant is looked at.</summary>
    public void ScriptLookup(string phoneNumberId, params Reply[] replies) =>
        _lookupScripts[phoneNumberId] = new ConcurrentQueue<Reply>(replies);

    /// <summary>Makes <paramref name="accessToken"/> a token of a business that owns these phone number ids.</summary>
    public void Grant(string accessToken, params string[] phoneNumberIds) =>
        _grants.AddOrUpdate(accessToken, _ => [.. phoneNumberIds], (_, owned) =>
        {
            lock (owned)
            {
                owned.UnionWith(phoneNumberIds);
            }
            return owned;
        });

    public IReadOnlyList<Received> ReceivedFor(string phoneNumberId) =>
        _received.Where(r => r.PhoneNumberId == phoneNumberId).ToList();

    public IReadOnlyList<Lookup> LookupsFor(string phoneNumberId) =>
        _lookups.Where(r => r.PhoneNumberId == phoneNumberId).ToList();

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/{phoneNumberId}/messages", async (string phoneNumberId, HttpContext context) =>
        {
            var body = await JsonSerializer.DeserializeAsync<JsonElement>(context.Request.Body);
            var reply = _scripts.TryGetValue(phoneNumberId, out var script) && script.TryDequeue(out var next)
                ? next
                : new Reply(200, Accepted($"wamid.{Guid.NewGuid():N}"), _delays.TryGetValue(phoneNumberId, out var delay) ? delay : null);
            _received.Enqueue(new Received(phoneNumberId, context.Request.Headers.Authorization.ToString(), body, reply.Status, reply.Body));
            reply.Arrived?.Invoke();
            await AnswerAsync(context, reply);
        });
        _app.MapGet("/{phoneNumberId}", async (string phoneNumberId, HttpContext context) =>
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            var reply = _lookupScripts.TryGetValue(phoneNumberId, out var script) && script.TryDequeue(out var next)
                ? next
                : LookUp(phoneNumberId, authorization);
            _lookups.Enqueue(new Lookup(phoneNumberId, authorization, context.Request.QueryString.Value ?? "", reply.Status));
            await AnswerAsync(context, reply);
        });
        await _app.StartAsync();
        BaseUrl = new Uri(_app.Urls.First());
    }

    private Reply LookUp(string phoneNumberId, string authorization)
    {
        var token = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;
        if (token is null || !_grants.TryGetValue(token, out var owned))
        {
            return new Reply(401, """{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AStandIn"}}""");
        }
        bool owns;
        lock (owned)
        {
            owns = owned.Contains(phoneNumberId);
        }
        return owns
            ? new Reply(200, JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["verified_name"] = "Stand-in Business",
                ["display_phone_number"] = "+1 555-010-" + phoneNumberId[^Math.Min(4, phoneNumberId.Length)..],
                ["id"] = phoneNumberId,
            }))
            : new Reply(400, $$$"""{"error":{"message":"Unsupported get request. Object with ID '{{{phoneNumberId}}}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AStandIn"}}""");
    }

    private static async Task AnswerAsync(HttpContext context, Reply reply)
    {
        if (reply.Hang is { } hang)
        {
            try
            {
                await Task.Delay(hang, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        context.Response.StatusCode = reply.Status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(reply.Body);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
