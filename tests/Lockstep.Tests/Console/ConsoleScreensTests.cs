using System.Text.Json;
using Microsoft.Playwright;

namespace Lockstep.Tests.WebConsole;

/// <summary>The remaining screens render their data at phone width (and leave a screenshot each).</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleScreensTests(ConsoleFixture server)
{
    [Fact]
    public async Task Screens_WithDataInTheWorkspace_ShowCalendarLeadsAndClientSearch()
    {
        var user = Guid.NewGuid();
        var workspace = (await CallAsync(user, "select public.create_workspace('Screens')")).GetProperty("workspace_id").GetGuid();
        var client = (await CallAsync(user, "select public.create_client_with_contact($1, 'Casey Calendar', 'Casey', '+15550100123')", workspace))
            .GetProperty("client_id").GetGuid();
        var monday = DateTime.UtcNow.Date.AddDays(-(((int)DateTime.UtcNow.DayOfWeek + 6) % 7));
        var starts = new DateTimeOffset(monday.AddDays(3).AddHours(9), TimeSpan.Zero);
        await CallAsync(user, "select public.create_booking($1, $2, $3)", client, starts, starts.AddHours(1));
        await CallAsync(user, "select leads.store_whatsapp_connection($1, '100200300', 'test-access-token')::text", workspace);
        await CallAsync(user, "select public.create_lead_with_conversation($1, '+15550100456', 'Lee Lead', 'inquiry', 'Wants a trial')", workspace);
        await Leads.LeadsServerFixture.CustomerWroteAsync(server, "100200300", "+15550100456");
        for (var i = 0; i < 25; i++)
        {
            await CallAsync(user, "select public.create_client_with_contact($1, $2, 'Someone')", workspace, $"Filler {i:00}");
        }

        var page = await server.SignedInPageAsync(user);

        await page.GotoAsync("console/calendar");
        await Assertions.Expect(page.GetByTestId("booking")).ToContainTextAsync("Casey Calendar");
        await ConsoleFixture.ScreenshotAsync(page, "calendar");

        await page.GotoAsync("console/leads");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("Wants a trial");
        await page.GetByRole(AriaRole.Link, new() { Name = "active conversation" }).First.ClickAsync();
        await page.GetByLabel("To (phone)").FillAsync("+15550100456");
        await page.GetByLabel("Message").FillAsync("Hello from the console");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        await page.GetByRole(AriaRole.Status).WaitForAsync();
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("Hello from the console");
        await ConsoleFixture.ScreenshotAsync(page, "leads");
        await page.GetByLabel("To (phone)").FillAsync("+15550100457");
        await page.GetByLabel("Message").FillAsync("To someone who never wrote");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("send a template message instead");

        await page.GotoAsync("console/clients");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("26 clients");
        Assert.Equal(20, await page.Locator("tbody tr").CountAsync());
        await page.GetByRole(AriaRole.Link, new() { Name = "Next page" }).ClickAsync();
        Assert.Equal(6, await page.Locator("tbody tr").CountAsync());
        await page.GetByLabel("Search by name or phone").FillAsync("0100123");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await Assertions.Expect(page.Locator("tbody tr")).ToHaveCountAsync(1);
        await ConsoleFixture.ScreenshotAsync(page, "clients");
        await server.ClosePagesAsync();
    }

    [Fact]
    public async Task Conversation_WithMoreThan200Messages_ShowsTheNewestLastAndOffersOlder()
    {
        var user = Guid.NewGuid();
        var workspace = (await CallAsync(user, "select public.create_workspace('Long talk')")).GetProperty("workspace_id").GetGuid();
        var conversation = (await CallAsync(user, "select public.create_lead_with_conversation($1, '+15550100789', 'Talk Ative', 'inquiry')", workspace))
            .GetProperty("conversation_id").GetGuid();
        // 205 messages a second apart, so the newest is Message 205.
        await server.ScalarAsync<long>("""
            with m as (
              insert into leads.messages (workspace_id, conversation_id, direction, body, status, created_at)
              select $1, $2, 'in', 'Message ' || g, 'received', now() - (205 - g) * interval '1 second'
              from generate_series(1, 205) g
              returning 1)
            select count(*) from m
            """, workspace, conversation);

        var page = await server.SignedInPageAsync(user);
        await page.GotoAsync($"console/leads?conversation={conversation}");
        var messages = page.GetByTestId("message");
        await Assertions.Expect(messages).ToHaveCountAsync(50);
        await Assertions.Expect(messages.Last).ToContainTextAsync("Message 205");
        await Assertions.Expect(messages.First).ToContainTextAsync("Message 156");

        await page.GetByRole(AriaRole.Link, new() { Name = "Older messages" }).ClickAsync();
        await Assertions.Expect(messages.Last).ToContainTextAsync("Message 155");
        await Assertions.Expect(messages.First).ToContainTextAsync("Message 106");
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Newest messages" })).ToBeVisibleAsync();
        await server.ClosePagesAsync();
    }

    private async Task<JsonElement> CallAsync(Guid user, string sql, params object?[] args)
    {
        var result = JsonDocument.Parse(await server.ScalarAsUserAsync<string>(user, sql, args)).RootElement.Clone();
        Assert.True(result.GetProperty("success").GetBoolean(), result.ToString());
        return result;
    }
}
