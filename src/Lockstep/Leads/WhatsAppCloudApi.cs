using System.Net.Http.Headers;
using System.Text.Json;

namespace Lockstep.Leads;

public enum PhoneNumberVerdict
{
    /// <summary>The Cloud API answered with the number's fields: the token may use it.</summary>
    Owned,

    /// <summary>The Cloud API refused the token, or the token may not read that number.</summary>
    NotOwned,

    /// <summary>No answer to go by: down, throttled, timed out, unreachable.</summary>
    Unavailable,
}

/// <summary>What the Cloud API said; <paramref name="Reason"/> names the status and Graph error code, never the token.</summary>
public sealed record PhoneNumberCheck(PhoneNumberVerdict Verdict, string Reason, string? DisplayPhoneNumber = null, string? VerifiedName = null);

/// <summary>
/// Why a send did not go through, as the outbox keeps it: <paramref name="Code"/> is the Cloud API's error
/// code (<c>131047</c>), or <c>http_503</c>, <c>timeout</c>, <c>network_error</c> when it gave none;
/// <paramref name="Retryable"/> says whether the same request may succeed later.
/// </summary>
public sealed record SendFailure(bool Retryable, string Code, string Message);

/// <summary>
/// Asks the WhatsApp Cloud API (Graph API) whether an access token may use a phone number id:
/// <c>GET {ApiBaseUrl}/{phone-number-id}?fields=id,display_phone_number,verified_name</c> with the token as
/// bearer. A 200 naming that id means owned; another 4xx (190: the token is not valid, 100: the object cannot
/// be read with it) means not owned; 5xx, 408, 429, Graph's transient and rate-limit codes, a timeout
/// (<c>Lockstep:WhatsApp:VerifyTimeoutMs</c>) or a network error mean unavailable. The token goes into the
/// Authorization header only: Graph's own messages can quote a malformed token, so none is passed on.
/// </summary>
public sealed class WhatsAppCloudApi(WhatsAppOptions options, ILogger<WhatsAppCloudApi> logger) : IDisposable
{
    // The one table of Graph and Cloud API error codes Lockstep tells apart: whether the same request may
    // succeed later (both for connecting and for sending). A code in none of these ranges is judged by its
    // HTTP status (see ClassifySend).
    private static readonly (int From, int To, bool RetryLater, string Meaning)[] ErrorCodes =
    [
        (1, 2, true, "temporary Graph API trouble"),
        (4, 4, true, "application request limit reached"),
        (17, 17, true, "user request limit reached"),
        (32, 32, true, "page request limit reached"),
        (341, 341, true, "application limit reached"),
        (613, 613, true, "calls to this API exceeded the rate limit"),
        (80007, 80007, true, "WhatsApp Business account rate limit reached"),
        (130429, 130429, true, "Cloud API throughput limit reached"),
        (131000, 131000, true, "something went wrong at the Cloud API"),
        (131016, 131016, true, "Cloud API service unavailable"),
        (131056, 131056, true, "too many messages to this recipient in a short time (pair rate limit)"),
        (190, 190, false, "the access token is expired or not valid"),
        (131008, 131008, false, "a required parameter is missing"),
        (131009, 131009, false, "a parameter value is not valid"),
        (131026, 131026, false, "the message is undeliverable to this recipient"),
        (131047, 131047, false, "more than 24 hours have passed since the customer last wrote: send a template"),
        (131048, 131048, false, "the number is restricted for spam"),
        (132000, 132999, false, "the template or its parameters do not match an approved template"),
    ];

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Only such ids are put into a Cloud API URL: anything else could name another path.</summary>
    public static bool IsPhoneNumberId(string value) => value.Length is >= 1 and <= 32 && value.All(char.IsAsciiDigit);

    public async Task<PhoneNumberCheck> CheckPhoneNumberAsync(string phoneNumberId, string accessToken, CancellationToken cancellationToken)
    {
        if (!IsPhoneNumberId(phoneNumberId))
        {
            throw new ArgumentException("Only 1 to 32 ASCII digits are sent to the Cloud API as a phone number id.", nameof(phoneNumberId));
        }
        // A header cannot carry other characters (the send would fail as if the network had), and no token has them.
        if (accessToken.Length == 0 || !accessToken.All(c => c is > ' ' and < '\u007f'))
        {
            return new PhoneNumberCheck(PhoneNumberVerdict.NotOwned, "not a Cloud API access token");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get,
            new Uri(options.ApiBaseUrl, phoneNumberId + "?fields=id,display_phone_number,verified_name"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.VerifyTimeout);
        PhoneNumberCheck check;
        try
        {
            using var response = await _http.SendAsync(request, timeout.Token);
            check = Judge(phoneNumberId, (int)response.StatusCode, await response.Content.ReadAsStringAsync(timeout.Token));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            check = new PhoneNumberCheck(PhoneNumberVerdict.Unavailable, $"no answer within {options.VerifyTimeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException e)
        {
            check = new PhoneNumberCheck(PhoneNumberVerdict.Unavailable, $"network error: {e.Message}");
        }
        if (check.Verdict != PhoneNumberVerdict.Owned)
        {
            logger.LogWarning("The Cloud API did not confirm phone number id {PhoneNumberId}: {Verdict} ({Reason})", phoneNumberId, check.Verdict, check.Reason);
        }
        return check;
    }

    private static PhoneNumberCheck Judge(string phoneNumberId, int status, string body)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            root = default;
        }
        var isObject = root.ValueKind == JsonValueKind.Object;
        if (status == 200)
        {
            // The answer must be about this id: a 200 for anything else proves nothing.
            return isObject && Text(root, "id") == phoneNumberId
                ? new PhoneNumberCheck(PhoneNumberVerdict.Owned, "confirmed", Text(root, "display_phone_number"), Text(root, "verified_name"))
                : new PhoneNumberCheck(PhoneNumberVerdict.NotOwned, "200 without that phone number id");
        }

        var error = isObject && root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object ? e : default;
        int? code = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("code", out var c) && c.TryGetInt32(out var n) ? n : null;
        var transient = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("is_transient", out var t) && t.ValueKind == JsonValueKind.True;
        var reason = code is null ? $"HTTP {status}" : $"HTTP {status}, {Text(error, "type") ?? "Graph"} error {code}";
        var retryLater = status >= 500 || status is 408 or 429 || transient || (code is { } known && Known(known)?.RetryLater == true);
        return new PhoneNumberCheck(retryLater ? PhoneNumberVerdict.Unavailable : PhoneNumberVerdict.NotOwned, reason);
    }

    /// <summary>
    /// Classifies a send the Cloud API did not accept from its HTTP status and error body
    /// <c>{"error":{"code":131047,"message":...,"error_data":{"details":...}}}</c>: a code in the table decides;
    /// otherwise 5xx, 408, 429 and <c>is_transient</c> are retried. Any other 4xx is not: the Cloud API refused
    /// this request as it stands (a parameter, a permission, a recipient), so sending it again would be
    /// refused again, each time counting against the number's quality rating, while the message looked queued.
    /// </summary>
    public static SendFailure ClassifySend(int status, string body)
    {
        JsonElement error = default;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var e)
                && e.ValueKind == JsonValueKind.Object)
            {
                error = e.Clone();
            }
        }
        catch (JsonException)
        {
        }
        var isError = error.ValueKind == JsonValueKind.Object;
        int? code = isError && error.TryGetProperty("code", out var c) && c.TryGetInt32(out var n) ? n : null;
        var transient = isError && error.TryGetProperty("is_transient", out var t) && t.ValueKind == JsonValueKind.True;
        var known = code is { } k ? Known(k) : null;
        var retry = known?.RetryLater ?? (status >= 500 || status is 408 or 429 || transient);

        var message = isError ? Text(error, "message") : null;
        var details = isError && error.TryGetProperty("error_data", out var data) && data.ValueKind == JsonValueKind.Object ? Text(data, "details") : null;
        var said = string.Join(": ", new[] { message, details }.Where(part => !string.IsNullOrWhiteSpace(part)));
        if (said.Length == 0)
        {
            said = known?.Meaning ?? (isError || body.Length == 0 ? "no reason given" : body[..Math.Min(body.Length, 300)]);
        }
        return new SendFailure(retry, code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? $"http_{status}", $"HTTP {status}: {said}");
    }

    private static (bool RetryLater, string Meaning)? Known(int code) =>
        ErrorCodes.Where(e => code >= e.From && code <= e.To).Select(e => ((bool, string)?)(e.RetryLater, e.Meaning)).FirstOrDefault();

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();
}
