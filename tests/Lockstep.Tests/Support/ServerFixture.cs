using System.Net.Http.Headers;
using Lockstep.Platform.Auth;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Lockstep.Tests.Support;

/// <summary>
/// A Lockstep server (in-process test host) over a fresh database for one test class, its WhatsApp
/// Cloud API a local stand-in (so no test reaches Meta).
/// </summary>
public class ServerFixture : DatabaseFixture
{
    public const string JwtSecret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

    public LockstepFactory Factory { get; private set; } = null!;

    public CloudApiStandIn CloudApi { get; } = new();

    public Hs256Jwt Jwt => TestTokens.Jwt;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await BeforeServerStartsAsync();
        await CloudApi.StartAsync();
        Factory = new LockstepFactory(ConnectionString, CloudApi.BaseUrl);
        if (Kestrel)
        {
            Factory.UseKestrel(0);
            Factory.StartServer();
        }
        else
        {
            _ = Factory.Server;
        }
    }

    /// <summary>
    /// Runs on the migrated database before the server starts: the place for test-only functions, since
    /// the server reads the function catalog once, at start (as PostgREST its schema cache).
    /// </summary>
    protected virtual Task BeforeServerStartsAsync() => Task.CompletedTask;

    /// <summary>True to run on a real Kestrel listener (for clients outside the process).</summary>
    protected virtual bool Kestrel => false;

    public override async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await CloudApi.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>An HTTP client; with a user, it sends a valid bearer token for them.</summary>
    public HttpClient Client(Guid? user = null) => Factory.Client(user);
}

/// <summary>A <see cref="ServerFixture"/> listening on a real loopback port.</summary>
public sealed class KestrelServerFixture : ServerFixture
{
    protected override bool Kestrel => true;

    public Uri BaseAddress => Factory.ClientOptions.BaseAddress;
}

public sealed class LockstepFactory(string connectionString, Uri? cloudApi = null) : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("ConnectionStrings:Lockstep", connectionString);
        builder.UseSetting("Lockstep:JwtSecret", ServerFixture.JwtSecret);
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        if (cloudApi is not null)
        {
            builder.UseSetting("Lockstep:WhatsApp:ApiBaseUrl", cloudApi.ToString());
        }
    }
}

/// <summary>Tokens signed with the test servers' secret, and clients that send them.</summary>
public static class TestTokens
{
    public static readonly Hs256Jwt Jwt = new(System.Text.Encoding.UTF8.GetBytes(ServerFixture.JwtSecret), "authenticated");

    /// <summary>A valid bearer token for <paramref name="user"/>, good for an hour.</summary>
    public static string For(Guid user) => Jwt.Mint(user, TimeSpan.FromHours(1));

    /// <summary>
    /// A token the servers accept for <paramref name="lifetime"/> from now (less up to a second: <c>exp</c> is in
    /// whole seconds); its <c>exp</c> lies the clock skew before that, as the server accepts a token that long after.
    /// </summary>
    public static string ValidFor(Guid user, TimeSpan lifetime) => Jwt.Mint(user, lifetime - Hs256Jwt.ClockSkew);

    /// <summary>Makes <paramref name="client"/> send a valid bearer token for <paramref name="user"/>.</summary>
    public static HttpClient SignedIn(this HttpClient client, Guid user)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", For(user));
        return client;
    }

    /// <summary>An HTTP client of an in-process test server; with a user, it sends a valid bearer token for them.</summary>
    public static HttpClient Client(this WebApplicationFactory<Program> factory, Guid? user = null)
    {
        var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        return user is { } signedIn ? client.SignedIn(signedIn) : client;
    }
}
