using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Lockstep.Platform.Auth;

/// <summary>Why a bearer token was refused; each has a stable problem <c>code</c>.</summary>
public enum TokenRejection
{
    Malformed,
    AlgorithmNotAllowed,
    SignatureInvalid,
    Expired,
    NotYetValid,
    AudienceInvalid,
    SubjectInvalid,
    ExpiryMissing,
}

/// <summary>
/// A token that passed every check: its claims, as JSON text for <c>request.jwt.claims</c>, and
/// <see cref="ValidUntil"/>, the moment this server stops accepting it (<c>exp</c> plus the clock skew).
/// </summary>
public sealed record VerifiedToken(Guid? UserId, string? Role, string ClaimsJson, DateTimeOffset ValidUntil)
{
    // CancelAfter's limit is about 49 days; a stream still open then simply ends and reconnects.
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(24);
    // Timers run on a coarse monotonic clock and can fire a few milliseconds early against the wall clock
    // the token is checked with; firing this much late makes sure a reconnect made right then is refused.
    private static readonly TimeSpan TimerMargin = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// A cancellation that fires just after this token stops being accepted, or with <paramref name="aborted"/>:
    /// what a long-lived response (a live stream) waits on, so it never outlives its caller's token.
    /// </summary>
    public CancellationTokenSource CancelAtExpiry(CancellationToken aborted)
    {
        var expiry = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var left = ValidUntil - DateTimeOffset.UtcNow + TimerMargin;
        expiry.CancelAfter(left <= TimeSpan.Zero ? TimeSpan.Zero : left < LongestWait ? left : LongestWait);
        return expiry;
    }
}

/// <summary>
/// HS256 JSON Web Tokens as Supabase issues them (<c>sub</c>, <c>role</c>, <c>aud</c>, <c>exp</c>,
/// optional <c>nbf</c>). Strict on purpose: the header must say HS256, the signature is compared in
/// constant time, <c>exp</c> is required, <c>aud</c> must match.
/// </summary>
public sealed class Hs256Jwt
{
    /// <summary>How far past <c>exp</c> (and before <c>nbf</c>) a token is still accepted, for clocks that differ.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);
    private readonly byte[] _key;
    private readonly string _audience;
    private readonly TimeProvider _time;

    public Hs256Jwt(byte[] key, string audience, TimeProvider? time = null)
    {
        if (key.Length < 32)
        {
            throw new ArgumentException("An HS256 secret needs at least 32 bytes.", nameof(key));
        }
        _key = key;
        _audience = audience;
        _time = time ?? TimeProvider.System;
    }

    public string Audience => _audience;

    /// <summary>Signs a token for <paramref name="userId"/> that expires after <paramref name="lifetime"/>.</summary>
    public string Mint(Guid userId, TimeSpan lifetime, string role = "authenticated")
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["sub"] = userId.ToString(),
            ["role"] = role,
            ["aud"] = _audience,
            ["iat"] = now,
            ["exp"] = now + (long)lifetime.TotalSeconds,
        });
        return Sign("""{"alg":"HS256","typ":"JWT"}"""u8.ToArray(), payload);
    }

    /// <summary>Signs an arbitrary header and payload: for tests of tokens that must be refused.</summary>
    public string Sign(byte[] headerJson, byte[] payloadJson)
    {
        var signingInput = Base64Url.EncodeToString(headerJson) + "." + Base64Url.EncodeToString(payloadJson);
        var signature = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    public bool TryVerify(string token, out VerifiedToken? verified, out TokenRejection rejection)
    {
        verified = null;
        rejection = TokenRejection.Malformed;
        var parts = token.Split('.');
        if (parts.Length != 3 || token.Length > 8192)
        {
            return false;
        }

        byte[] header, payload, signature;
        try
        {
            header = Base64Url.DecodeFromChars(parts[0]);
            payload = Base64Url.DecodeFromChars(parts[1]);
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException)
        {
            return false;
        }

        try
        {
            using (var headerDoc = JsonDocument.Parse(header))
            {
                if (headerDoc.RootElement.ValueKind != JsonValueKind.Object
                    || !headerDoc.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String)
                {
                    return false;
                }
                if (alg.GetString() != "HS256")
                {
                    rejection = TokenRejection.AlgorithmNotAllowed;
                    return false;
                }
            }

            var expected = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
            if (!CryptographicOperations.FixedTimeEquals(expected, signature))
            {
                rejection = TokenRejection.SignatureInvalid;
                return false;
            }

            using var payloadDoc = JsonDocument.Parse(payload);
            var claims = payloadDoc.RootElement;
            if (claims.ValueKind != JsonValueKind.Object)
            {
                return false;
            }
            var now = _time.GetUtcNow();
            if (!claims.TryGetProperty("exp", out _))
            {
                rejection = TokenRejection.ExpiryMissing;
                return false;
            }
            if (!TryGetTime(claims, "exp", out var exp, required: true))
            {
                return false;
            }
            if (now - ClockSkew >= exp)
            {
                rejection = TokenRejection.Expired;
                return false;
            }
            if (!TryGetTime(claims, "nbf", out var nbf, required: false))
            {
                return false;
            }
            if (now + ClockSkew < nbf)
            {
                rejection = TokenRejection.NotYetValid;
                return false;
            }
            if (!AudienceMatches(claims))
            {
                rejection = TokenRejection.AudienceInvalid;
                return false;
            }

            Guid? userId = null;
            if (claims.TryGetProperty("sub", out var sub))
            {
                if (sub.ValueKind != JsonValueKind.String || !Guid.TryParse(sub.GetString(), out var parsed))
                {
                    rejection = TokenRejection.SubjectInvalid;
                    return false;
                }
                userId = parsed;
            }
            var role = claims.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
            verified = new VerifiedToken(userId, role, Encoding.UTF8.GetString(payload), exp + ClockSkew);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private bool AudienceMatches(JsonElement claims)
    {
        if (!claims.TryGetProperty("aud", out var aud))
        {
            return false;
        }
        return aud.ValueKind switch
        {
            JsonValueKind.String => aud.GetString() == _audience,
            JsonValueKind.Array => aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == _audience),
            _ => false,
        };
    }

    private static bool TryGetTime(JsonElement claims, string name, out DateTimeOffset value, bool required)
    {
        value = required ? default : DateTimeOffset.MinValue;
        if (!claims.TryGetProperty(name, out var element))
        {
            return !required;
        }
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var seconds)
            || double.IsNaN(seconds) || seconds < 0 || seconds > 253402300799)
        {
            return false;
        }
        value = DateTimeOffset.FromUnixTimeSeconds((long)seconds);
        return true;
    }
}
