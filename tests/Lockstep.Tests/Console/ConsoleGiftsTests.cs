using Lockstep.Tests.Gifts;
using Microsoft.Playwright;

namespace Lockstep.Tests.WebConsole;

/// <summary>The wishlist screens in a real browser: a claim, a split, a pledge, a live notification, and what the celebrant sees.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleGiftsTests(ConsoleFixture server)
{
    [Fact]
    public async Task ClaimAndSplit_WhenTwoMembersTakePart_CelebrantSeesNoClaimDetailsAndMembersGetLiveNotifications()
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var item = await group.AddItemAsync(server, 300m);
        var pledger = group.Others[0];
        var wishlistUrl = $"console/wishlists/{group.Wishlist}";

        var pledgerPage = await server.SignedInPageAsync(pledger);
        await pledgerPage.GotoAsync(wishlistUrl);
        await pledgerPage.Locator("body[data-live=ready]").WaitForAsync();

        var claimerPage = await server.SignedInPageAsync(group.Claimer);
        await claimerPage.GotoAsync(wishlistUrl);
        await claimerPage.GetByRole(AriaRole.Button, new() { Name = "Claim Bicycle" }).ClickAsync();
        await Assertions.Expect(claimerPage.GetByTestId("claim-state")).ToContainTextAsync("Claimed by Claire Claimer");

        // Arrives on the pledger's open page without a reload: LISTEN/NOTIFY → hub → /console/live.
        await Assertions.Expect(pledgerPage.GetByTestId("live-notification")).ToContainTextAsync("Claire Claimer claimed Bicycle");
        await ConsoleFixture.ScreenshotAsync(pledgerPage, "live-notification");

        await claimerPage.GetByLabel("Additional costs").FillAsync("20");
        await claimerPage.GetByRole(AriaRole.Button, new() { Name = "Split Bicycle" }).ClickAsync();
        await Assertions.Expect(claimerPage.GetByTestId("returned")).ToContainTextAsync("Split opened for 320");

        await pledgerPage.ReloadAsync();
        await Assertions.Expect(pledgerPage.GetByTestId("suggested-share")).ToContainTextAsync("160.00 each among 2");
        await pledgerPage.GetByLabel("Your pledge").FillAsync("100");
        await pledgerPage.GetByRole(AriaRole.Button, new() { Name = "Pledge to Bicycle" }).ClickAsync();
        await Assertions.Expect(pledgerPage.GetByTestId("returned")).ToContainTextAsync("100.00 of 320.00 pledged, 220.00 remaining");
        Assert.Equal("100.00", await pledgerPage.GetByTestId("split-progress").GetAttributeAsync("value"));
        await ConsoleFixture.ScreenshotAsync(pledgerPage, "wishlist-split");

        // A pledge over the remainder is refused with its sentence, never raw JSON.
        await pledgerPage.GetByLabel("Your pledge").FillAsync("1000");
        await pledgerPage.GetByRole(AriaRole.Button, new() { Name = "Pledge to Bicycle" }).ClickAsync();
        await Assertions.Expect(pledgerPage.GetByTestId("error")).ToBeVisibleAsync();
        Assert.DoesNotContain("\"code\"", await pledgerPage.ContentAsync());

        var celebrantPage = await server.SignedInPageAsync(group.Celebrant);
        await celebrantPage.GotoAsync(wishlistUrl);
        await celebrantPage.GetByRole(AriaRole.Heading, new() { Name = "Bicycle" }).WaitForAsync();
        var seen = await celebrantPage.Locator("main").InnerTextAsync();
        foreach (var secret in new[] { "Claire", "Member 0", "Claimed", "Pledge", "Split", "320", "100" })
        {
            Assert.DoesNotContain(secret, seen, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(0, await celebrantPage.GetByTestId("split-progress").CountAsync());
        await ConsoleFixture.ScreenshotAsync(celebrantPage, "wishlist-celebrant");

        var pledged = await server.ScalarAsync<decimal>("select coalesce(sum(amount), 0) from gifts.gift_claims where item_id = $1", item);
        Assert.True(pledged <= 320m, $"pledged {pledged}");

        await pledgerPage.GotoAsync("console/notifications");
        await Assertions.Expect(pledgerPage.Locator("main")).ToContainTextAsync("Claire Claimer opened a split for Bicycle");
        await ConsoleFixture.ScreenshotAsync(pledgerPage, "notifications");
        await server.ClosePagesAsync();
    }

}
