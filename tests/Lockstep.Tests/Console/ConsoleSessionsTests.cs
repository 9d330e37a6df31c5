using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Lockstep.Tests.WebConsole;

/// <summary>The client page in a real browser: a client, a pack, and two tabs using sessions at once.</summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class ConsoleSessionsTests(ConsoleFixture server)
{
    [Fact]
    public async Task UseSession_WhenTwoPagesClickAtOnceUntilEmpty_NeverExceedsThePack()
    {
        const int PackSize = 5;
        var user = Guid.NewGuid();
        var first = await server.SignedInPageAsync(user);

        await first.GetByLabel("New workspace name").FillAsync("Studio");
        await first.GetByRole(AriaRole.Button, new() { Name = "Create workspace" }).ClickAsync();
        await first.GetByRole(AriaRole.Heading, new() { Name = "Members of Studio" }).WaitForAsync();
        await ConsoleFixture.ScreenshotAsync(first, "workspaces");

        await first.GotoAsync("console/clients");
        await first.GetByLabel("Client name").FillAsync("Dana Client");
        await first.GetByLabel("Primary contact name").FillAsync("Dana");
        await first.GetByLabel("Phone", new() { Exact = true }).FillAsync("+1 (555) 010-0199");
        await first.GetByRole(AriaRole.Button, new() { Name = "Create client" }).ClickAsync();
        await first.GetByRole(AriaRole.Heading, new() { Name = "Dana Client" }).WaitForAsync();
        Assert.Contains("Dana", await first.GetByTestId("primary-contact").InnerTextAsync());

        await first.GetByLabel("Sessions in pack").FillAsync(PackSize.ToString());
        await first.GetByRole(AriaRole.Button, new() { Name = "Sell pack" }).ClickAsync();
        await first.GetByTestId("pack").WaitForAsync();
        await ConsoleFixture.ScreenshotAsync(first, "client");

        // The second tab: another browser context of the same user, on the same client page.
        var second = await server.SignedInPageAsync(user);
        await second.GotoAsync(first.Url);
        await second.GetByTestId("pack").WaitForAsync();

        // 2 concurrent callers (two browser pages, two connections) per round, until both are refused.
        var used = 0;
        var refusals = 0;
        for (var round = 0; round < PackSize; round++)
        {
            var pages = await Task.WhenAll(ClickUseAsync(first), ClickUseAsync(second));
            foreach (var html in pages)
            {
                var shown = int.Parse(SessionsUsed().Match(html).Groups[1].Value);
                Assert.InRange(shown, 0, PackSize);
                if (html.Contains("data-testid=\"returned\"", StringComparison.Ordinal))
                {
                    used++;
                }
                else
                {
                    Assert.Contains("No sessions left on this pack", html);
                    refusals++;
                }
            }
            if (refusals == 2)
            {
                break;
            }
        }
        Assert.Equal(PackSize, used);
        await ConsoleFixture.ScreenshotAsync(first, "client-pack-empty");

        var pack = await server.ScalarAsync<string>(
            "select sessions_used || '/' || sessions_total from sessions.purchases p join crm.clients c on c.workspace_id = p.workspace_id and c.id = p.client_id where c.name = 'Dana Client'");
        Assert.Equal($"{PackSize}/{PackSize}", pack);
        Assert.Equal("0", await first.GetByTestId("sessions-left").InnerTextAsync());
        Assert.DoesNotContain("\"success\"", await first.ContentAsync());

        await first.GetByRole(AriaRole.Button, new() { Name = "Reinstate" }).ClickAsync();
        await Assertions.Expect(first.GetByTestId("returned")).ToContainTextAsync("4 used, 1 left");
        await server.ClosePagesAsync();
    }

    /// <summary>Clicks "Use 1 Session" and returns the page the server answered (the one the browser then shows).</summary>
    private static async Task<string> ClickUseAsync(IPage page)
    {
        var response = await page.RunAndWaitForResponseAsync(
            () => page.GetByRole(AriaRole.Button, new() { Name = "Use 1 Session" }).ClickAsync(),
            r => r.Request.Method == "POST");
        var html = await response.TextAsync();
        await page.WaitForLoadStateAsync(LoadState.DOMContentLoaded);
        return html;
    }

    [GeneratedRegex("data-testid=\"sessions-used\">(\\d+)<")]
    private static partial Regex SessionsUsed();
}
