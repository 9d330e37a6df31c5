using System.Net;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Playwright;

namespace Lockstep.Tests.WebConsole;

/// <summary>Sign-in: the development user picker exists only in Development; a bad token is refused in a sentence; a session ends with its token.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleSignInTests(ConsoleFixture server)
{
    [Theory]
    [InlineData("Production", false)]
    [InlineData("Staging", false)]
    [InlineData("Development", true)]
    public async Task SignInPage_InEachEnvironment_ShowsTheUserPickerOnlyInDevelopment(string environment, bool picker)
    {
        await using var factory = new EnvironmentFactory(server.ConnectionString, environment);
        using var client = factory.CreateClient();

        var html = await client.GetStringAsync("/console");

        Assert.Contains("Access token", html);
        Assert.Equal(picker, html.Contains("data-testid=\"user-picker\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Development", true)]
    [InlineData("Production", false)]
    public async Task PickUser_WhenPosted_SignsInOnlyInDevelopment(string environment, bool signedIn)
    {
        var user = Guid.NewGuid();
        await server.ScalarAsUserAsync<string>(user, "select public.create_workspace('Picked')");
        await using var factory = new EnvironmentFactory(server.ConnectionString, environment);
        using var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var html = await client.GetStringAsync("/console");
        var antiforgery = System.Text.RegularExpressions.Regex.Match(html, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;

        var response = await client.PostAsync("/console", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "pick-user",
            ["PickedUser"] = user.ToString(),
            ["__RequestVerificationToken"] = antiforgery,
        }));

        Assert.Equal(signedIn, response.Headers.TryGetValues("Set-Cookie", out var cookies)
            && cookies.Any(c => c.StartsWith(ConsoleCookie, StringComparison.Ordinal)));
        var after = await client.GetStringAsync("/console");
        Assert.Equal(signedIn, after.Contains("Members of Picked", StringComparison.Ordinal));
    }

    private const string ConsoleCookie = "lockstep_console=";

    [Fact]
    public async Task SignIn_WhenTheTokenIsSignedWithAnotherSecret_ShowsTheRefusalAndStaysSignedOut()
    {
        var forged = new Lockstep.Platform.Auth.Hs256Jwt(System.Text.Encoding.UTF8.GetBytes(new string('x', 40)), "authenticated")
            .Mint(Guid.NewGuid(), TimeSpan.FromHours(1));
        var context = await server.Browser.NewContextAsync(new() { BaseURL = server.BaseUrl + "/" });
        var page = await context.NewPageAsync();
        await page.GotoAsync("console");
        await page.GetByLabel("Access token").FillAsync(forged);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("This token was not signed by this server");
        Assert.Equal(0, await page.GetByRole(AriaRole.Link, new() { Name = "Clients" }).CountAsync());
        await ConsoleFixture.ScreenshotAsync(page, "sign-in-refused");
        await context.DisposeAsync();
    }

    [Fact]
    public async Task SignIn_WithAToken_KeepsItOnTheServerBehindAnHttpOnlyCookieUntilSignOut()
    {
        var page = await server.SignedInPageAsync(Guid.NewGuid());

        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "lockstep_console");
        Assert.True(cookie.HttpOnly);
        Assert.DoesNotContain(".", cookie.Value);
        Assert.Equal("", await page.EvaluateAsync<string>("document.cookie"));

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.GetByLabel("Access token").WaitForAsync();
        await page.GotoAsync("console/clients");
        await page.GetByLabel("Access token").WaitForAsync();
        await server.ClosePagesAsync();
    }

    [Fact]
    public async Task Page_WhenTheSessionsTokenExpires_ShowsTheSignInFormByItself()
    {
        var user = Guid.NewGuid();
        var page = await server.SignedInPageAsync(user, TimeSpan.FromSeconds(6));
        await page.WaitForFunctionAsync("document.body.dataset.live === 'ready'");

        // No click: the live feed ends at the token's expiry and the page loads itself again.
        await page.GetByLabel("Access token").WaitForAsync(new() { Timeout = 10_000 });

        Assert.Equal(0, await page.GetByRole(AriaRole.Link, new() { Name = "Clients" }).CountAsync());
        await server.ClosePagesAsync();
    }

    [Fact]
    public async Task LiveFeed_WhenTheSessionsTokenExpires_EndsAndTheCookieOpensNothingAfterwards()
    {
        var user = Guid.NewGuid();
        var page = await server.SignedInPageAsync(user, TimeSpan.FromSeconds(6));
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "lockstep_console");
        await server.ClosePagesAsync();
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(server.BaseUrl),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        client.DefaultRequestHeaders.Add("Cookie", $"lockstep_console={cookie.Value}");

        using var live = await client.GetAsync("/console/live", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = await new StreamReader(await live.Content.ReadAsStreamAsync()).ReadToEndAsync(deadline.Token);
        using var reconnect = await client.GetAsync("/console/live");
        using var clients = await client.GetAsync("/console/clients");
        using var form = await client.PostAsync("/console/clients", new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "create-client" }));

        Assert.EndsWith("event: expired\ndata: sign in again\n\n", events, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, reconnect.StatusCode);
        Assert.Contains("Access token", await clients.Content.ReadAsStringAsync());
        Assert.Contains(clients.Headers.GetValues("Set-Cookie"), c => c.StartsWith("lockstep_console=;", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.SeeOther, form.StatusCode);
        Assert.Equal("/console/clients", form.Headers.Location?.OriginalString);
    }

    private sealed class EnvironmentFactory(string connectionString, string environment) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment(environment);
            builder.UseSetting("ConnectionStrings:Lockstep", connectionString);
            builder.UseSetting("Lockstep:JwtSecret", ServerFixture.JwtSecret);
            builder.UseSetting("Logging:LogLevel:Default", "Warning");
        }
    }
}
