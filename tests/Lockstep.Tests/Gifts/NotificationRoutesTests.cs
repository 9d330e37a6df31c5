using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>The caller's notifications over /api: newest first, unread filter, pages, marking read.</summary>
public sealed class NotificationRoutesTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>A member with <paramref name="count"/> item_claimed notifications (one per claimed item).</summary>
    private async Task<(GiftGroup Group, Guid[] Items)> NotifiedAsync(int count)
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var items = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            items[i] = await group.AddItemAsync(server, 10m, $"Item {i}");
            AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", items[i]));
        }
        return (group, items);
    }

    [Fact]
    public async Task List_WhenPaged_ReturnsNewestFirstWithoutGapsOrRepeats()
    {
        var (group, items) = await NotifiedAsync(5);
        var client = server.Client(group.Others[0]);

        var seen = new List<Guid>();
        string url = "/api/notifications?limit=2";
        while (true)
        {
            var page = await client.GetFromJsonAsync<JsonElement>(url);
            seen.AddRange(page.GetProperty("notifications").EnumerateArray().Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()));
            if (page.GetProperty("next_before").ValueKind == JsonValueKind.Null)
            {
                break;
            }
            url = $"/api/notifications?limit=2&before={Uri.EscapeDataString(page.GetProperty("next_before").GetString()!)}";
        }

        Assert.Equal(items.Reverse(), seen);
        var claimer = await server.Client(group.Claimer).GetFromJsonAsync<JsonElement>("/api/notifications");
        Assert.Equal(0, claimer.GetProperty("notifications").GetArrayLength());
        var celebrant = await server.Client(group.Celebrant).GetFromJsonAsync<JsonElement>("/api/notifications");
        Assert.Equal(0, celebrant.GetProperty("notifications").GetArrayLength());
    }

    [Fact]
    public async Task MarkRead_ThenUnreadFilter_LeavesTheOthers()
    {
        var (group, _) = await NotifiedAsync(3);
        var client = server.Client(group.Others[0]);
        var all = await client.GetFromJsonAsync<JsonElement>("/api/notifications");
        var first = all.GetProperty("notifications")[0].GetProperty("id").GetGuid();

        var read = await client.PostAsync($"/api/notifications/{first}/read", null);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);

        var unread = await client.GetFromJsonAsync<JsonElement>("/api/notifications?unread=true");
        Assert.Equal(2, unread.GetProperty("notifications").GetArrayLength());
        Assert.DoesNotContain(first, unread.GetProperty("notifications").EnumerateArray().Select(n => n.GetProperty("id").GetGuid()));

        var all2 = await client.PostAsync("/api/notifications/read-all", null);
        Assert.Equal(2, (await all2.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("marked").GetInt32());
        Assert.Equal(0, (await client.GetFromJsonAsync<JsonElement>("/api/notifications?unread=true")).GetProperty("notifications").GetArrayLength());
    }

    [Fact]
    public async Task MarkRead_WhenTheNotificationIsSomeoneElses_Returns404AndChangesNothing()
    {
        var (group, _) = await NotifiedAsync(1);
        var id = await server.ScalarAsync<Guid>("select id from gifts.notifications where recipient_id = $1", group.Others[0]);

        await Http.AssertProblemAsync(await server.Client(group.Claimer).PostAsync($"/api/notifications/{id}/read", null),
            HttpStatusCode.NotFound, "notification_not_found");
        var marked = await (await server.Client(Guid.NewGuid()).PostAsync("/api/notifications/read-all", null)).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(0, marked.GetProperty("marked").GetInt32());
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from gifts.notifications where id = $1 and read_at is not null", id));
    }

    [Fact]
    public async Task NotificationsSince_WhenPolledWithTheCursorsItReturns_ReadsEachNotificationOnceInOrder()
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var client = server.Client(group.Others[0]);
        var start = await (await client.PostAsJsonAsync("/rest/v1/rpc/notification_cursor", new { })).Content.ReadFromJsonAsync<JsonElement>();
        var cursor = start.GetProperty("cursor").GetString()!;
        var items = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            items.Add(await group.AddItemAsync(server, 10m, $"Item {i}"));
            AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", items[i]));
        }

        var seen = new List<Guid>();
        var pages = new List<int>();
        while (true)
        {
            var response = await client.PostAsJsonAsync("/rest/v1/rpc/notifications_since", new { p_cursor = cursor, p_limit = 2 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.Content.ReadFromJsonAsync<JsonElement>();
            var rows = page.GetProperty("notifications").EnumerateArray().ToList();
            pages.Add(rows.Count);
            seen.AddRange(rows.Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()));
            cursor = page.GetProperty("cursor").GetString()!;
            if (rows.Count == 0)
            {
                break;
            }
        }

        Assert.Equal("", start.GetProperty("cursor").GetString());
        Assert.Equal(items, seen);
        Assert.Equal([2, 1, 0], pages);
        Assert.Equal($"{group.Workspace}:3", cursor);
    }

    [Theory]
    [InlineData("notifications_since", "p_cursor", "not a cursor")]
    [InlineData("notifications_since", "p_cursor", "0d6f64a4-6f37-4b7e-9a35-5e5e0c2c1f9a:1;drop")]
    [InlineData("notification_cursor", "p_last_event_id", "0d6f64a4-6f37-4b7e-9a35-5e5e0c2c1f9a:x")]
    public async Task Cursor_WhenMalformed_IsRefusedInvalidCursor(string function, string parameter, string cursor)
    {
        var response = await server.Client(Guid.NewGuid()).PostAsJsonAsync($"/rest/v1/rpc/{function}", new Dictionary<string, string> { [parameter] = cursor });

        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(body.GetProperty("success").GetBoolean());
        Assert.Equal("invalid_cursor", body.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("/api/notifications?limit=0", 400, "invalid_limit")]
    [InlineData("/api/notifications?limit=abc", 400, "invalid_parameter")]
    [InlineData("/api/notifications?unread=maybe", 400, "invalid_parameter")]
    public async Task List_WhenQueryIsBad_ReturnsProblem(string url, int status, string code)
    {
        var response = await server.Client(Guid.NewGuid()).GetAsync(url);

        await Http.AssertProblemAsync(response, (HttpStatusCode)status, code);
    }

    [Fact]
    public async Task MarkRead_WhenIdIsNotAUuid_Returns400()
    {
        await Http.AssertProblemAsync(await server.Client(Guid.NewGuid()).PostAsync("/api/notifications/abc/read", null),
            HttpStatusCode.BadRequest, "invalid_parameter");
    }

    [Theory]
    [InlineData("GET", "/api/notifications")]
    [InlineData("GET", "/api/notifications/stream")]
    [InlineData("POST", "/api/notifications/read-all")]
    public async Task Notifications_WhenAnonymous_Return401(string method, string url)
    {
        var response = await server.Client().SendAsync(new HttpRequestMessage(new HttpMethod(method), url));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
