using System.Diagnostics;
using System.Text.RegularExpressions;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;

namespace Lockstep.Tests.Platform;

/// <summary>
/// Behind a TLS proxy: X-Forwarded-Proto is believed only from a configured proxy. Over a real socket
/// (the test host has no remote address, which the middleware would wave through).
/// </summary>
public sealed partial class ForwardedHeadersTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Theory]
    [InlineData("KnownProxies", "127.0.0.1", true)]
    [InlineData("KnownNetworks", "127.0.0.0/8", true)]
    [InlineData("KnownProxies", "10.20.30.40", false)]
    [InlineData("KnownNetworks", "10.0.0.0/8, 192.168.0.0/16", false)]
    [InlineData(null, null, false)]
    public async Task ConsoleSignIn_WhenForwardedAsHttps_MarksTheCookieSecureOnlyFromATrustedProxy(string? setting, string? value, bool secure)
    {
        await using var root = new LockstepFactory(database.ConnectionString);
        await using var factory = root.WithWebHostBuilder(b =>
        {
            if (setting is not null)
            {
                b.UseSetting($"Lockstep:ForwardedHeaders:{setting}", value);
            }
        });
        factory.UseKestrel(0);
        factory.StartServer();
        // Cookies by hand: a cookie container would not send a Secure cookie back over http.
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false })
        {
            BaseAddress = factory.ClientOptions.BaseAddress,
        };

        using var page = await client.SendAsync(FromProxy(HttpMethod.Get));
        var antiforgery = Cookie(page, ".AspNetCore.Antiforgery.");
        var form = AntiforgeryToken().Match(await page.Content.ReadAsStringAsync()).Groups[1].Value;
        using var signIn = FromProxy(HttpMethod.Post);
        signIn.Headers.Add("Cookie", antiforgery[..antiforgery.IndexOf(';', StringComparison.Ordinal)]);
        signIn.Content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "sign-in",
            ["Token"] = TestTokens.For(Guid.NewGuid()),
            ["__RequestVerificationToken"] = form,
        });
        using var signedIn = await client.SendAsync(signIn);

        var cookie = Cookie(signedIn, "lockstep_console=");
        Assert.Equal(secure, Attributes(cookie).Contains("secure"));
        Assert.Contains("httponly", Attributes(cookie));
    }

    [Theory]
    [InlineData("KnownProxies", "proxy.internal", "an IP address")]
    [InlineData("KnownNetworks", "10.0.0.0/33", "a CIDR range")]
    public async Task Serve_WhenATrustedProxyIsNotAnAddress_ExitsWith1NamingTheSetting(string setting, string value, string expected)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "lockstep.dll"), "serve", "--urls", "http://127.0.0.1:0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ConnectionStrings__Lockstep"] = database.ConnectionString,
                ["Lockstep__JwtSecret"] = ServerFixture.JwtSecret,
                [$"Lockstep__ForwardedHeaders__{setting}"] = value,
            },
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the server started with an invalid trusted proxy");
        }

        Assert.Equal(1, process.ExitCode);
        Assert.Contains($"lockstep: Lockstep:ForwardedHeaders:{setting} '{value}' is not {expected}", await stderr, StringComparison.Ordinal);
    }

    private static HttpRequestMessage FromProxy(HttpMethod method)
    {
        var request = new HttpRequestMessage(method, "/console");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        return request;
    }

    private static string Cookie(HttpResponseMessage response, string prefix)
    {
        Assert.True(response.Headers.TryGetValues("Set-Cookie", out var cookies), $"no Set-Cookie in the {(int)response.StatusCode} answer");
        return Assert.Single(cookies, c => c.StartsWith(prefix, StringComparison.Ordinal));
    }

    private static string[] Attributes(string cookie) =>
        cookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.Split('=')[0].ToLowerInvariant()).ToArray();

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
