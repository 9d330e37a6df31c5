using System.Buffers.Text;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Auth;

/// <summary>Every refused token is answered 401 before anything runs, on /api and on /rest/v1/rpc alike.</summary>
public sealed class BearerTokenTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly byte[] Hs256Header = """{"alg":"HS256","typ":"JWT"}"""u8.ToArray();

    public static TheoryData<string, string, string> RefusedTokens => new()
    {
        { "alg_none_unsigned", "token_algorithm_not_allowed", "PGRST301" },
        { "alg_hs512", "token_algorithm_not_allowed", "PGRST301" },
        { "alg_rs256", "token_algorithm_not_allowed", "PGRST301" },
        { "other_secret", "token_signature_invalid", "PGRST301" },
        { "tampered_payload", "token_signature_invalid", "PGRST301" },
        { "expired", "token_expired", "PGRST303" },
        { "not_yet_valid", "token_not_yet_valid", "PGRST303" },
        { "wrong_audience", "token_audience_invalid", "PGRST303" },
        { "exp_missing", "token_exp_missing", "PGRST301" },
        { "sub_not_uuid", "token_subject_invalid", "PGRST301" },
        { "garbage", "token_malformed", "PGRST301" },
        { "basic_scheme", "token_malformed", "PGRST301" },
    };

    /// <summary>The Authorization header for a named case; the user is a fresh uuid.</summary>
    private AuthenticationHeaderValue Header(string tokenCase)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var user = Guid.NewGuid();
        string Claims(string extra = "", long? exp = null, string aud = "\"authenticated\"", string? sub = null) =>
            $$"""{"sub":"{{sub ?? user.ToString()}}","role":"authenticated","aud":{{aud}},"exp":{{exp ?? now + 3600}}{{extra}}}""";
        string Sign(string claims, byte[]? header = null) => server.Jwt.Sign(header ?? Hs256Header, Encoding.UTF8.GetBytes(claims));

        var token = tokenCase switch
        {
            "alg_none_unsigned" => Base64Url.EncodeToString("""{"alg":"none","typ":"JWT"}"""u8) + "."
                + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Claims())) + ".",
            "alg_hs512" => Sign(Claims(), """{"alg":"HS512","typ":"JWT"}"""u8.ToArray()),
            "alg_rs256" => Sign(Claims(), """{"alg":"RS256","typ":"JWT"}"""u8.ToArray()),
            "other_secret" => new Hs256Jwt(Encoding.UTF8.GetBytes("not-the-server-secret-0123456789-abcdefghijkl"), "authenticated")
                .Mint(user, TimeSpan.FromHours(1)),
            "tampered_payload" => Tamper(server.Jwt.Mint(user, TimeSpan.FromHours(1)), Claims(sub: Guid.NewGuid().ToString())),
            "expired" => Sign(Claims(exp: now - 120)),
            "not_yet_valid" => Sign(Claims($",\"nbf\":{now + 600}")),
            "wrong_audience" => Sign(Claims(aud: "\"anon\"")),
            "aud_array" => Sign(Claims(aud: "[\"other\",\"authenticated\"]")),
            "exp_missing" => Sign($$"""{"sub":"{{user}}","role":"authenticated","aud":"authenticated"}"""),
            "sub_not_uuid" => Sign(Claims(sub: "user-42")),
            "garbage" => "not-a-jwt",
            "basic_scheme" => null,
            _ => throw new ArgumentOutOfRangeException(nameof(tokenCase)),
        };
        return token is null
            ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String("user:password"u8))
            : new AuthenticationHeaderValue("Bearer", token);
    }

    private static string Tamper(string token, string claims)
    {
        var parts = token.Split('.');
        return $"{parts[0]}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims))}.{parts[2]}";
    }

    private async Task<HttpResponseMessage> PostAsync(string path, AuthenticationHeaderValue? authorization, string name)
    {
        using var client = server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = Http.Json(JsonSerializer.Serialize(path.StartsWith("/rest", StringComparison.Ordinal) ? new { p_name = name } : (object)new { name })),
        };
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }

    private Task<long> WorkspacesNamedAsync(string name) =>
        server.ScalarAsync<long>("select count(*) from platform.workspaces where name = $1", name);

    private static string UniqueName() => "auth-" + Guid.NewGuid().ToString("N");

    [Theory]
    [MemberData(nameof(RefusedTokens))]
    public async Task CreateWorkspace_WhenTokenIsRefused_Returns401AndCreatesNothing(string tokenCase, string code, string _)
    {
        var name = UniqueName();

        var response = await PostAsync("/api/workspaces", Header(tokenCase), name);

        await Http.AssertProblemAsync(response, HttpStatusCode.Unauthorized, code);
        Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(0L, await WorkspacesNamedAsync(name));
    }

    [Theory]
    [MemberData(nameof(RefusedTokens))]
    public async Task RpcCreateWorkspace_WhenTokenIsRefused_Returns401InPostgrestShapeAndCreatesNothing(string tokenCase, string _, string postgrestCode)
    {
        var name = UniqueName();

        var response = await PostAsync("/rest/v1/rpc/create_workspace", Header(tokenCase), name);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"expected 401, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(postgrestCode, body.GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.String, body.GetProperty("message").ValueKind);
        Assert.True(body.TryGetProperty("details", out var details) && body.TryGetProperty("hint", out var hint), text);
        Assert.Equal(0L, await WorkspacesNamedAsync(name));
    }

    [Fact]
    public async Task CreateWorkspace_WhenTheTokenHasNoExp_SaysTheExpClaimIsMissing()
    {
        var response = await PostAsync("/api/workspaces", Header("exp_missing"), UniqueName());

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "token_exp_missing");
        Assert.Equal("The token has no exp claim; tokens must say when they expire", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task CreateWorkspace_WhenNoAuthorizationHeader_Returns401NotAuthenticated()
    {
        var name = UniqueName();

        var response = await PostAsync("/api/workspaces", null, name);

        await Http.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "not_authenticated");
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal(0L, await WorkspacesNamedAsync(name));
    }

    [Fact]
    public async Task CreateWorkspace_WhenAudienceArrayContainsAuthenticated_CreatesTheWorkspace()
    {
        var name = UniqueName();

        var response = await PostAsync("/api/workspaces", Header("aud_array"), name);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1L, await WorkspacesNamedAsync(name));
    }

    [Fact]
    public async Task RpcCreateWorkspace_WhenAudienceArrayContainsAuthenticated_CreatesTheWorkspace()
    {
        var name = UniqueName();

        var response = await PostAsync("/rest/v1/rpc/create_workspace", Header("aud_array"), name);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1L, await WorkspacesNamedAsync(name));
    }

    [Fact]
    public async Task Health_WhenTokenIsRefused_Returns401EvenOnAnAnonymousRoute()
    {
        using var client = server.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health/live");
        request.Headers.Authorization = Header("expired");

        var response = await client.SendAsync(request);

        await Http.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "token_expired");
    }
}
