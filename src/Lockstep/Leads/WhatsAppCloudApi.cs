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
/// Asks the WhatsApp Cloud API (Graph API) whether an access token may use a phone number id:
/// <c>GET {ApiBaseUrl}/{phone-number-id}?fields=id,display_phone_number,verified_name</c> with the token as
/// bearer. A 200 naming that id means owned; another 4xx (190: the token is not valid, 100: the object cannot
/// be read with it) means not owned; 5xx, 408, 429, Graph's transient and rate-limit codes, a timeout
/// (<c>Lockstep:WhatsApp:VerifyTimeoutMs</c>) or a network error mean unavailable. The token goes into the
/// Authorization header only: Graph's own messages can quote a malformed token, so none is passed on.
/// </summary>
public sealed class WhatsAppCloudApi(WhatsAppOptions options, ILogger<WhatsAppCloudApi> logger) : IDisposable
{
    // Graph error codes that say "try again later": 1 and 2 temporary trouble, the rest rate limits.
    private static readonly int[] RetryLaterCodes = [1, 2, 4, 17, 32, 341, 613, 80007];

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
        var retryLater = status >= 500 || status is 408 or 429 || transient || (code is { } known && RetryLaterCodes.Contains(known));
        return new PhoneNumberCheck(retryLater ? PhoneNumberVerdict.Unavailable : PhoneNumberVerdict.NotOwned, reason);
    }

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();
}
