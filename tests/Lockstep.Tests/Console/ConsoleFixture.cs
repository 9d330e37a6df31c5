using System.Diagnostics;
using Lockstep.Tests.Support;
using Microsoft.Playwright;

namespace Lockstep.Tests.WebConsole;

/// <summary>The console's browser tests share one server and one browser and run one at a time: Chromium is the heavy part.</summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "Console";
}

/// <summary>
/// A Lockstep server on a real port and Debian's Chromium driven by Playwright (its driver ships in the
/// NuGet package; no browser download). Screenshots go to TestResults/screenshots in the test output.
/// </summary>
public sealed class ConsoleFixture : ServerFixture
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly List<IBrowserContext> _contexts = [];
    private IPlaywright? _playwright;

    protected override bool Kestrel => true;

    public IBrowser Browser { get; private set; } = null!;

    public string BaseUrl => Factory.ClientOptions.BaseAddress.ToString().TrimEnd('/');

    public static string ScreenshotFolder { get; } = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await EnsureChromiumAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumPath,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(ScreenshotFolder);
    }

    public override async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        await base.DisposeAsync();
    }

    /// <summary>
    /// A page at phone width, signed in as <paramref name="user"/> by pasting a token, good for an hour or
    /// for <paramref name="validFor"/> from the moment it is pasted.
    /// </summary>
    public async Task<IPage> SignedInPageAsync(Guid user, TimeSpan? validFor = null)
    {
        var context = await Browser.NewContextAsync(new() { BaseURL = BaseUrl + "/", ViewportSize = new() { Width = 390, Height = 844 } });
        lock (_contexts)
        {
            _contexts.Add(context);
        }
        context.SetDefaultTimeout(15_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("console");
        await page.GetByLabel("Access token").FillAsync(validFor is { } lifetime ? TestTokens.ValidFor(user, lifetime) : Jwt.Mint(user, TimeSpan.FromHours(1)));
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Workspaces", Level = 1 }).WaitForAsync();
        return page;
    }

    /// <summary>Closes the pages a test opened (their live streams too), so the next test starts alone.</summary>
    public async Task ClosePagesAsync()
    {
        IBrowserContext[] open;
        lock (_contexts)
        {
            open = [.. _contexts];
            _contexts.Clear();
        }
        foreach (var context in open)
        {
            await context.CloseAsync();
        }
    }

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });

    /// <summary>The test setup installs Debian's Chromium when it is missing (as root, like PostgreSQL and Node.js).</summary>
    private static async Task EnsureChromiumAsync()
    {
        if (File.Exists(ChromiumPath))
        {
            return;
        }
        foreach (var args in new[] { "update -qq", "install -y -qq chromium" })
        {
            var start = new ProcessStartInfo("apt-get", args) { Environment = { ["DEBIAN_FRONTEND"] = "noninteractive" } };
            using var process = Process.Start(start)!;
            await process.WaitForExitAsync();
        }
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing and apt-get could not install it; install the chromium package");
        }
    }
}
