using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Lockstep.Leads;

/// <summary>
/// Meta's webhook: the verification handshake (GET) and signed deliveries (POST). The signature is
/// checked over the raw bytes before anything is parsed; one server-only function stores the delivery
/// in one transaction, de-duplicated by WhatsApp message id.
/// </summary>
public static class WhatsAppWebhookEndpoints
{
    public const string SignatureHeader = "X-Hub-Signature-256";

    public static IEndpointRouteBuilder MapWhatsAppWebhook(this IEndpointRouteBuilder app)
    {
        var webhook = app.MapGroup("/api/webhooks/whatsapp").WithTags("WhatsApp").AllowAnonymous();

        webhook.MapGet("/", Verify).WithName("VerifyWhatsAppWebhook")
            .WithSummary("Meta's verification handshake: echoes hub.challenge when hub.verify_token matches");
        webhook.MapPost("/", Receive).WithName("ReceiveWhatsAppWebhook")
            .WithSummary("Signed WhatsApp deliveries (X-Hub-Signature-256): inbound messages and status updates")
            .DisableAntiforgery();
        return app;
    }

    private static Results<ContentHttpResult, ProblemHttpResult> Verify(HttpContext context, WhatsAppOptions options)
    {
        var query = context.Request.Query;
        var token = query["hub.verify_token"].ToString();
        if (query["hub.mode"] != "subscribe" || options.VerifyToken is null
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(options.VerifyToken)))
        {
            return Problems.Problem(403, "verify_token_invalid", "The verify token does not match");
        }
        return TypedResults.Text(query["hub.challenge"].ToString(), "text/plain");
    }

    private static async Task<Results<Ok, ProblemHttpResult>> Receive(
        HttpContext context, WhatsAppOptions options, FunctionCaller db, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Lockstep.Leads.WhatsAppWebhook");
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();

        if (!SignatureValid(context.Request.Headers[SignatureHeader].ToString(), body, options.AppSecret))
        {
            if (options.AppSecret is null)
            {
                logger.LogWarning("WhatsApp delivery refused: Lockstep:WhatsApp:AppSecret is not configured");
            }
            return Problems.Problem(401, "signature_invalid", $"{SignatureHeader} is missing or does not match the body");
        }

        try
        {
            using var _ = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return Problems.Problem(400, "invalid_json", "The delivery is not JSON");
        }

        var result = await db.CallAsync(null, "select leads.ingest_whatsapp($1)",
            [new NpgsqlParameter { Value = Encoding.UTF8.GetString(body), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Jsonb }],
            context.RequestAborted);
        using var outcome = JsonDocument.Parse(result!);
        var unroutable = outcome.RootElement.GetProperty("unroutable");
        if (unroutable.GetArrayLength() > 0)
        {
            // Acknowledged anyway: Meta would otherwise retry a delivery we can never place.
            logger.LogWarning("WhatsApp delivery for unconnected phone number ids {PhoneNumberIds} acknowledged and dropped",
                unroutable.ToString());
        }
        return TypedResults.Ok();
    }

    /// <summary>True when <paramref name="header"/> is <c>sha256=</c> + the hex HMAC-SHA256 of the raw body under the app secret.</summary>
    public static bool SignatureValid(string header, byte[] body, string? appSecret)
    {
        const string prefix = "sha256=";
        if (appSecret is null || !header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || header.Length != prefix.Length + 64)
        {
            return false;
        }
        byte[] given;
        try
        {
            given = Convert.FromHexString(header.AsSpan(prefix.Length));
        }
        catch (FormatException)
        {
            return false;
        }
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(appSecret), body);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>The header value Meta would send for <paramref name="body"/>.</summary>
    public static string Sign(byte[] body, string appSecret) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(appSecret), body));
}
