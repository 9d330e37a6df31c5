using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Playwright;

namespace Lockstep.Tests.WebConsole;

/// <summary>Sign-in: the development user picker exists only in Development; a bad token is refused in a sentence.</summary>
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
        await server.ScalarAsUserAsync<string>(user, "select public.create_workspace('Picked')::text");
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
