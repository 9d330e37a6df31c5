using System.Buffers.Text;
using System.Text;
using Lockstep.Platform.Auth;

namespace Lockstep.Tests.Platform.Auth;

public sealed class Hs256JwtTests
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("unit-secret-0123456789-abcdefghijklmnopqrstuvwxyz");
    private static readonly DateTimeOffset Now = new(2030, 1, 15, 12, 0, 0, TimeSpan.Zero);
    private static readonly long NowSeconds = Now.ToUnixTimeSeconds();
    private static readonly byte[] Hs256Header = """{"alg":"HS256","typ":"JWT"}"""u8.ToArray();

    private readonly Hs256Jwt _jwt = new(Key, "authenticated", new FixedTime(Now));

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private string Signed(string payloadJson, byte[]? header = null) =>
        _jwt.Sign(header ?? Hs256Header, Encoding.UTF8.GetBytes(payloadJson));

    private static string Payload(long exp, string extra = "") =>
        $$"""{"sub":"{{Guid.NewGuid()}}","role":"authenticated","aud":"authenticated","exp":{{exp}}{{extra}}}""";

    private TokenRejection? Verify(string token) =>
        _jwt.TryVerify(token, out var verified, out var rejection) ? AssertVerified(verified) : rejection;

    private static TokenRejection? AssertVerified(VerifiedToken? verified)
    {
        Assert.NotNull(verified);
        return null;
    }

    [Fact]
    public void TryVerify_WhenTokenWasMinted_ReturnsItsClaims()
    {
        var user = Guid.NewGuid();
        var token = _jwt.Mint(user, TimeSpan.FromMinutes(5), role: "service_role");

        Assert.True(_jwt.TryVerify(token, out var verified, out _));

        Assert.Equal(user, verified!.UserId);
        Assert.Equal("service_role", verified.Role);
        Assert.Equal(Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token.Split('.')[1])), verified.ClaimsJson);
    }

    [Fact]
    public void TryVerify_WhenSubjectIsAbsent_AcceptsAnAnonymousRoleToken()
    {
        var token = Signed($$"""{"role":"anon","aud":"authenticated","exp":{{NowSeconds + 60}}}""");

        Assert.True(_jwt.TryVerify(token, out var verified, out _));

        Assert.Null(verified!.UserId);
        Assert.Equal("anon", verified.Role);
    }

    [Theory]
    [InlineData("""{"alg":"none","typ":"JWT"}""")]
    [InlineData("""{"alg":"None"}""")]
    [InlineData("""{"alg":"hs256"}""")]
    [InlineData("""{"alg":"HS384"}""")]
    [InlineData("""{"alg":"HS512"}""")]
    [InlineData("""{"alg":"RS256"}""")]
    [InlineData("""{"alg":"ES256"}""")]
    public void TryVerify_WhenAlgorithmIsNotHs256_RejectsAlgorithm(string header)
    {
        // Signed with the right key: only the declared algorithm is wrong.
        var token = Signed(Payload(NowSeconds + 60), Encoding.UTF8.GetBytes(header));

        Assert.Equal(TokenRejection.AlgorithmNotAllowed, Verify(token));
    }

    [Fact]
    public void TryVerify_WhenAlgNoneHasEmptySignature_RejectsAlgorithm()
    {
        var token = Base64Url.EncodeToString("""{"alg":"none"}"""u8) + "."
            + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Payload(NowSeconds + 60))) + ".";

        Assert.Equal(TokenRejection.AlgorithmNotAllowed, Verify(token));
    }

    [Fact]
    public void TryVerify_WhenSignedWithAnotherSecret_RejectsSignature()
    {
        var other = new Hs256Jwt(Encoding.UTF8.GetBytes("another-secret-0123456789-abcdefghijklmnopqrstu"), "authenticated", new FixedTime(Now));

        Assert.Equal(TokenRejection.SignatureInvalid, Verify(other.Mint(Guid.NewGuid(), TimeSpan.FromMinutes(5))));
    }

    [Fact]
    public void TryVerify_WhenPayloadIsSwappedAfterSigning_RejectsSignature()
    {
        var parts = _jwt.Mint(Guid.NewGuid(), TimeSpan.FromMinutes(5)).Split('.');
        var forged = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Payload(NowSeconds + 60).Replace("authenticated\",\"aud", "service_role\",\"aud", StringComparison.Ordinal)));

        Assert.Equal(TokenRejection.SignatureInvalid, Verify($"{parts[0]}.{forged}.{parts[2]}"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    public void TryVerify_WhenOneSignatureByteDiffers_RejectsSignature(int index)
    {
        var parts = _jwt.Mint(Guid.NewGuid(), TimeSpan.FromMinutes(5)).Split('.');
        var signature = Base64Url.DecodeFromChars(parts[2]);
        signature[index] ^= 0x01;

        Assert.Equal(TokenRejection.SignatureInvalid, Verify($"{parts[0]}.{parts[1]}.{Base64Url.EncodeToString(signature)}"));
    }

    [Fact]
    public void TryVerify_WhenSignatureIsTruncated_RejectsSignature()
    {
        var parts = _jwt.Mint(Guid.NewGuid(), TimeSpan.FromMinutes(5)).Split('.');
        var signature = Base64Url.DecodeFromChars(parts[2])[..16];

        Assert.Equal(TokenRejection.SignatureInvalid, Verify($"{parts[0]}.{parts[1]}.{Base64Url.EncodeToString(signature)}"));
    }

    [Theory]
    [InlineData(-29, null)]
    [InlineData(-30, TokenRejection.Expired)]
    [InlineData(-3600, TokenRejection.Expired)]
    public void TryVerify_WhenExpiryIsNearTheSkew_ToleratesThirtySeconds(long offset, TokenRejection? expected)
    {
        Assert.Equal(expected, Verify(Signed(Payload(NowSeconds + offset))));
    }

    [Theory]
    [InlineData(30, null)]
    [InlineData(31, TokenRejection.NotYetValid)]
    [InlineData(3600, TokenRejection.NotYetValid)]
    public void TryVerify_WhenNotBeforeIsNearTheSkew_ToleratesThirtySeconds(long offset, TokenRejection? expected)
    {
        Assert.Equal(expected, Verify(Signed(Payload(NowSeconds + 7200, $",\"nbf\":{NowSeconds + offset}"))));
    }

    [Theory]
    [InlineData("\"anon\"")]
    [InlineData("\"Authenticated\"")]
    [InlineData("[]")]
    [InlineData("[\"other\", 1]")]
    [InlineData("1")]
    [InlineData("null")]
    public void TryVerify_WhenAudienceDoesNotMatch_RejectsAudience(string aud)
    {
        var token = Signed($$"""{"sub":"{{Guid.NewGuid()}}","aud":{{aud}},"exp":{{NowSeconds + 60}}}""");

        Assert.Equal(TokenRejection.AudienceInvalid, Verify(token));
    }

    [Fact]
    public void TryVerify_WhenAudienceIsMissing_RejectsAudience()
    {
        Assert.Equal(TokenRejection.AudienceInvalid, Verify(Signed($$"""{"sub":"{{Guid.NewGuid()}}","exp":{{NowSeconds + 60}}}""")));
    }

    [Fact]
    public void TryVerify_WhenAudienceArrayContainsOurs_Accepts()
    {
        var token = Signed($$"""{"sub":"{{Guid.NewGuid()}}","aud":["other","authenticated"],"exp":{{NowSeconds + 60}}}""");

        Assert.Null(Verify(token));
    }

    [Theory]
    [InlineData("\"not-a-uuid\"")]
    [InlineData("\"\"")]
    [InlineData("42")]
    [InlineData("null")]
    public void TryVerify_WhenSubjectIsNotAUuid_RejectsSubject(string sub)
    {
        var token = Signed($$"""{"sub":{{sub}},"aud":"authenticated","exp":{{NowSeconds + 60}}}""");

        Assert.Equal(TokenRejection.SubjectInvalid, Verify(token));
    }

    [Fact]
    public void TryVerify_WhenExpIsMissing_RejectsForTheMissingExpiry()
    {
        var token = Signed("""{"sub":"00000000-0000-0000-0000-000000000001","aud":"authenticated"}""");

        Assert.Equal(TokenRejection.ExpiryMissing, Verify(token));
    }

    [Theory]
    [InlineData("""{"aud":"authenticated","exp":"1900000000"}""")]
    [InlineData("""{"aud":"authenticated","exp":-1}""")]
    [InlineData("""{"aud":"authenticated","exp":1e300}""")]
    [InlineData("""{"aud":"authenticated","exp":1900000000,"nbf":"soon"}""")]
    [InlineData("""["aud","exp"]""")]
    [InlineData("""not json""")]
    public void TryVerify_WhenSignedClaimsAreUnusable_RejectsAsMalformed(string payload)
    {
        Assert.Equal(TokenRejection.Malformed, Verify(Signed(payload)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("!!!.???.***")]
    [InlineData("e30.e30.")]
    public void TryVerify_WhenTokenIsNotAJwt_RejectsAsMalformed(string token)
    {
        Assert.Equal(TokenRejection.Malformed, Verify(token));
    }

    [Theory]
    [InlineData("""{"typ":"JWT"}""")]
    [InlineData("""{"alg":256}""")]
    [InlineData("""["HS256"]""")]
    [InlineData("""{"alg":""")]
    public void TryVerify_WhenHeaderIsUnusable_RejectsAsMalformed(string header)
    {
        Assert.Equal(TokenRejection.Malformed, Verify(Signed(Payload(NowSeconds + 60), Encoding.UTF8.GetBytes(header))));
    }

    [Fact]
    public void TryVerify_WhenTokenIsLongerThan8KiB_RejectsAsMalformed()
    {
        var token = Signed(Payload(NowSeconds + 60, $",\"pad\":\"{new string('x', 8192)}\""));

        Assert.Equal(TokenRejection.Malformed, Verify(token));
    }

    [Fact]
    public void Constructor_WhenKeyIsShorterThan32Bytes_Throws()
    {
        Assert.Throws<ArgumentException>(() => new Hs256Jwt(new byte[31], "authenticated"));
    }
}
