using System.Net;
using System.Text;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform;

/// <summary>
/// Every list pages the same way (db/functions/platform/paging.sql): newest first by (timestamp, id),
/// p_limit rows at a time, and the cursor of the last row to continue. Each list is set up with 7 rows,
/// five of them sharing a timestamp with another, through the serving role; the timestamps are then
/// set explicitly, so ties are certain rather than likely.
/// </summary>
public sealed class ListPagingTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    // 7 rows: two pairs and a triple of equal timestamps; one with microseconds, which the cursor must keep.
    private static readonly DateTimeOffset[] Times =
        [.. new[] { 3.0, 3.0, 2.0, 2.0, 2.0, 1.0, 0.0 }.Select((m, i) => Start.AddMinutes(m).AddTicks(i < 2 ? 10 : 0))];

    /// <summary>A list with its rows: who reads it, the call (its own arguments, then limit and before), and the order expected.</summary>
    private sealed record Seeded(Guid User, string Sql, object[] Args, string Rows, string Id, string Next, string[] Expected);

    public static TheoryData<string> Lists => new()
    {
        "list_members", "get_audit_log", "list_leads", "list_conversations", "list_messages",
        "list_client_purchases", "list_client_bookings", "list_wishlists", "get_wishlist",
    };

    [Theory]
    [MemberData(nameof(Lists))]
    public async Task List_WhenWalkedThreeAtATime_ReturnsEveryRowOnceNewestFirst(string list)
    {
        var seeded = await SeedAsync(list);
        var seen = new List<string>();
        var pages = new List<int>();
        string? before = null;
        do
        {
            var page = await CallAsync(seeded, 3, before);
            Assert.True(page.GetProperty("success").GetBoolean(), page.ToString());
            var rows = page.GetProperty(seeded.Rows).EnumerateArray().Select(r => r.GetProperty(seeded.Id).ToString()).ToList();
            seen.AddRange(rows);
            pages.Add(rows.Count);
            before = page.GetProperty(seeded.Next).GetString();
        }
        while (before is not null && pages.Count < 10);

        Assert.Equal([3, 3, 1], pages);
        Assert.Equal(seeded.Expected, seen);
    }

    [Theory]
    [MemberData(nameof(Lists))]
    public async Task List_WhenAPageEndsWithTheLastRow_HasNoNextCursor(string list)
    {
        var seeded = await SeedAsync(list);
        var page = await CallAsync(seeded, 7, null);
        Assert.Equal(7, page.GetProperty(seeded.Rows).GetArrayLength());
        Assert.Equal(JsonValueKind.Null, page.GetProperty(seeded.Next).ValueKind);
    }

    [Theory]
    [MemberData(nameof(Lists))]
    public async Task List_WhenTheLimitIsOutsideOneTo200_RefusesWithInvalidLimit(string list)
    {
        var seeded = await SeedAsync(list);
        foreach (var limit in new[] { 0, -1, 201 })
        {
            Assert.Equal("invalid_limit", (await CallAsync(seeded, limit, null)).GetProperty("code").GetString());
        }
        Assert.Equal(7, (await CallAsync(seeded, 200, null)).GetProperty(seeded.Rows).GetArrayLength());
    }

    [Theory]
    [MemberData(nameof(Lists))]
    public async Task List_WhenTheCursorIsMalformed_RefusesWithInvalidCursor(string list)
    {
        var seeded = await SeedAsync(list);
        string[] cursors =
        [
            "not a cursor", "", "%%%", Encode("hello"), Encode("2026-13-01T00:00:00.000000Z|1"),
            Encode("2026-03-01T12:00:00Z|" + Guid.NewGuid()),
            // A cursor of a list keyed otherwise: a uuid where the audit log has a number, and the reverse.
            Encode("2026-03-01T12:00:00.000000Z|" + (list == "get_audit_log" ? Guid.NewGuid().ToString() : "42")),
        ];
        foreach (var cursor in cursors)
        {
            var page = await CallAsync(seeded, 3, cursor);
            Assert.True(page.GetProperty("code").GetString() == "invalid_cursor", $"{cursor}: {page}");
        }
    }

    [Theory]
    [InlineData("/api/workspaces/{ws}/members")]
    [InlineData("/api/workspaces/{ws}/audit")]
    [InlineData("/api/workspaces/{ws}/leads")]
    [InlineData("/api/workspaces/{ws}/conversations")]
    [InlineData("/api/workspaces/{ws}/conversations/{conversation}/messages")]
    [InlineData("/api/clients/{client}/purchases")]
    [InlineData("/api/clients/{client}/bookings")]
    [InlineData("/api/workspaces/{ws}/wishlists")]
    [InlineData("/api/wishlists/{wishlist}")]
    [InlineData("/api/notifications")]
    public async Task ListRoute_WhenLimitOrBeforeIsBad_Answers400WithTheCode(string route)
    {
        var owner = Guid.NewGuid();
        var ws = await WorkspaceAsync(owner);
        var conversation = (await CallAsUserAsync(owner,
            "select public.create_lead_with_conversation($1, '+15550107001', 'Route', 'inquiry')", ws)).GetProperty("conversation_id").GetGuid();
        var client = (await CallAsUserAsync(owner, "select public.create_client_with_contact($1, 'Route Client', 'Route', '+15550107002')", ws))
            .GetProperty("client_id").GetGuid();
        var wishlist = (await CallAsUserAsync(owner, "select public.create_wishlist($1, 'Route list')", ws)).GetProperty("wishlist_id").GetGuid();
        var path = route.Replace("{ws}", ws.ToString()).Replace("{conversation}", conversation.ToString())
            .Replace("{client}", client.ToString()).Replace("{wishlist}", wishlist.ToString());
        using var http = server.Client(owner);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(path + "?limit=1")).StatusCode);
        await Http.AssertProblemAsync(await http.GetAsync(path + "?limit=0"), HttpStatusCode.BadRequest, "invalid_limit");
        await Http.AssertProblemAsync(await http.GetAsync(path + "?limit=201"), HttpStatusCode.BadRequest, "invalid_limit");
        if (route != "/api/notifications")
        {
            await Http.AssertProblemAsync(await http.GetAsync(path + "?before=not-a-cursor"), HttpStatusCode.BadRequest, "invalid_cursor");
        }
    }

    [Fact]
    public async Task ListMessagesRoute_WhenWalkedWithNextBefore_ReturnsEveryMessageOnceNewestFirst()
    {
        var seeded = await SeedAsync("list_messages");
        var (ws, conversation) = ((Guid)seeded.Args[0], (Guid)seeded.Args[1]);
        using var http = server.Client(seeded.User);
        var seen = new List<string>();
        var path = $"/api/workspaces/{ws}/conversations/{conversation}/messages?limit=3";
        for (var url = path; url is not null && seen.Count < 20;)
        {
            var page = JsonDocument.Parse(await http.GetStringAsync(url)).RootElement;
            seen.AddRange(page.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("message_id").GetString()!));
            url = page.GetProperty("next_before").GetString() is { } next ? $"{path}&before={Uri.EscapeDataString(next)}" : null;
        }
        Assert.Equal(seeded.Expected, seen);
    }

    private Task<JsonElement> CallAsync(Seeded seeded, int limit, string? before) =>
        CallAsUserAsync(seeded.User, seeded.Sql, [.. seeded.Args, limit, before]);

    private async Task<JsonElement> CallAsUserAsync(Guid user, string sql, params object?[] args) =>
        JsonDocument.Parse(await server.ScalarAsUserAsync<string>(user, sql, args)).RootElement.Clone();

    private async Task<Guid> WorkspaceAsync(Guid owner) =>
        (await CallAsUserAsync(owner, "select public.create_workspace('Paging')")).GetProperty("workspace_id").GetGuid();

    private static string Encode(string key) => Convert.ToBase64String(Encoding.UTF8.GetBytes(key)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private async Task<Guid[]> IdsAsync(Guid user, string sql, string key, params object?[] args)
    {
        var ids = new Guid[Times.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var result = await CallAsUserAsync(user, sql, [.. args, i]);
            Assert.True(result.GetProperty("success").GetBoolean(), result.ToString());
            ids[i] = result.GetProperty(key).GetGuid();
        }
        return ids;
    }

    /// <summary>Gives row i of <paramref name="table"/> the time Times[i]; returns the ids in the order a list must show them.</summary>
    private async Task<string[]> StampAsync(string table, string idColumn, string set, Guid workspace, Guid[] ids)
    {
        var stamped = await server.ScalarAsync<long>($"""
            with stamped as (
              update {table} x set {set}
              from unnest($1::uuid[], $2::timestamptz[]) t(id, at)
              where x.workspace_id = $3 and x.{idColumn} = t.id
              returning 1)
            select count(*) from stamped
            """, ids, Times, workspace);
        Assert.Equal(ids.Length, stamped);
        // PostgreSQL orders uuids by their bytes, which is the order of their lowercase hex text.
        return [.. ids.Zip(Times).OrderByDescending(p => p.Second).ThenByDescending(p => p.First.ToString(), StringComparer.Ordinal).Select(p => p.First.ToString())];
    }

    private async Task<Seeded> SeedAsync(string list)
    {
        var owner = Guid.NewGuid();
        var ws = await WorkspaceAsync(owner);
        switch (list)
        {
            case "list_members":
            {
                var members = new[] { owner }.Concat(Enumerable.Range(0, 6).Select(_ => Guid.NewGuid())).ToArray();
                foreach (var member in members.Skip(1))
                {
                    await CallAsUserAsync(owner, "select public.add_member($1, $2)", ws, member);
                }
                var expected = await StampAsync("platform.members", "user_id", "created_at = t.at", ws, members);
                return new(owner, "select public.list_members(p_workspace_id => $1, p_limit => $2, p_before => $3)", [ws],
                    "members", "user_id", "next_before", expected);
            }
            case "get_audit_log":
            {
                // The workspace and its owner's membership are 2 entries of one transaction, so of one `at`;
                // 5 members added in one statement are 5 more sharing another.
                await server.ScalarAsUserAsync<long>(owner, "select count(public.add_member($1, gen_random_uuid())) from generate_series(1, 5)", ws);
                var entries = await server.ScalarAsync<long[]>("select array_agg(id) from platform.audit_log where workspace_id = $1", ws);
                var ats = await server.ScalarAsync<DateTime[]>("select array_agg(at order by id) from platform.audit_log where workspace_id = $1", ws);
                Assert.Equal(7, entries.Length);
                var expected = entries.Order().Zip(ats).OrderByDescending(p => p.Second).ThenByDescending(p => p.First).Select(p => p.First.ToString()).ToArray();
                return new(owner, "select public.get_audit_log(p_workspace_id => $1, p_limit => $2, p_before => $3)", [ws],
                    "entries", "id", "next_before", expected);
            }
            case "list_leads" or "list_conversations" or "list_messages":
            {
                var leads = new Guid[Times.Length];
                var conversations = new Guid[Times.Length];
                for (var i = 0; i < Times.Length; i++)
                {
                    var created = await CallAsUserAsync(owner,
                        "select public.create_lead_with_conversation($1, $2, 'Lead', 'inquiry')", ws, $"+155501070{i:00}");
                    leads[i] = created.GetProperty("lead_id").GetGuid();
                    conversations[i] = created.GetProperty("conversation_id").GetGuid();
                }
                if (list == "list_leads")
                {
                    return new(owner, "select public.list_leads(p_workspace_id => $1, p_limit => $2, p_before => $3)", [ws],
                        "leads", "lead_id", "next_before", await StampAsync("leads.leads", "id", "created_at = t.at", ws, leads));
                }
                if (list == "list_conversations")
                {
                    // Activity is the last message, else the creation: half have messages, created a day earlier.
                    var expected = await StampAsync("leads.conversations", "id", """
                        created_at = case when x.id = any(($1::uuid[])[1:3]) then t.at - interval '1 day' else t.at end,
                        last_message_at = case when x.id = any(($1::uuid[])[1:3]) then t.at end
                        """, ws, conversations);
                    return new(owner, "select public.list_conversations(p_workspace_id => $1, p_limit => $2, p_before => $3)", [ws],
                        "conversations", "conversation_id", "next_before", expected);
                }
                var messages = await server.ScalarAsync<Guid[]>("""
                    with m as (
                      insert into leads.messages (workspace_id, conversation_id, direction, body, status)
                      select $1, $2, 'in', 'Message ' || g, 'received' from generate_series(1, 7) g
                      returning id, body)
                    select array_agg(id order by body) from m
                    """, ws, conversations[0]);
                return new(owner, "select public.list_messages(p_workspace_id => $1, p_conversation_id => $2, p_limit => $3, p_before => $4)",
                    [ws, conversations[0]], "messages", "message_id", "next_before", await StampAsync("leads.messages", "id", "created_at = t.at", ws, messages));
            }
            case "list_client_purchases" or "list_client_bookings":
            {
                var client = (await CallAsUserAsync(owner, "select public.create_client_with_contact($1, 'Paged Client', 'Paged', '+15550107100')", ws))
                    .GetProperty("client_id").GetGuid();
                if (list == "list_client_purchases")
                {
                    var purchases = await IdsAsync(owner, "select public.create_purchase(p_client_id => $1, p_sessions_total => 1 + $2)", "purchase_id", client);
                    return new(owner, "select public.list_client_purchases(p_client_id => $1, p_limit => $2, p_before => $3)", [client],
                        "purchases", "purchase_id", "next_before", await StampAsync("sessions.purchases", "id", "purchased_at = t.at", ws, purchases));
                }
                var bookings = await IdsAsync(owner,
                    "select public.create_booking($1, timestamptz '2031-01-01 10:00Z' + $2 * interval '1 day', timestamptz '2031-01-01 11:00Z' + $2 * interval '1 day')",
                    "booking_id", client);
                return new(owner, "select public.list_client_bookings(p_client_id => $1, p_limit => $2, p_before => $3)", [client],
                    "bookings", "booking_id", "next_before",
                    await StampAsync("sessions.bookings", "id", "starts_at = t.at, ends_at = t.at + interval '1 hour'", ws, bookings));
            }
            case "list_wishlists":
            {
                var wishlists = await IdsAsync(owner, "select public.create_wishlist($1, 'List ' || $2)", "wishlist_id", ws);
                return new(owner, "select public.list_wishlists(p_workspace_id => $1, p_limit => $2, p_before => $3)", [ws],
                    "wishlists", "wishlist_id", "next_before", await StampAsync("gifts.wishlists", "id", "created_at = t.at", ws, wishlists));
            }
            case "get_wishlist":
            {
                var wishlist = (await CallAsUserAsync(owner, "select public.create_wishlist($1, 'Items')", ws)).GetProperty("wishlist_id").GetGuid();
                var items = await IdsAsync(owner, "select public.add_wishlist_item($1, 'Item ' || $2, 10.00)", "item_id", wishlist);
                return new(owner, "select public.get_wishlist(p_wishlist_id => $1, p_items_limit => $2, p_items_before => $3)", [wishlist],
                    "items", "item_id", "items_next_before", await StampAsync("gifts.wishlist_items", "id", "created_at = t.at", ws, items));
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(list), list, null);
        }
    }
}
