using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lockstep.Tests.Reliability;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Lockstep.Tests.Gifts;

/// <summary>A server on a real port (for the live streams) over a database holding one <see cref="PrivacyWorld"/>.</summary>
public sealed class CelebrantPrivacyFixture : ServerFixture
{
    protected override bool Kestrel => true;

    public PrivacyWorld World { get; private set; } = null!;

    public Uri Address => new(Factory.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        World = await PrivacyWorld.PlantAsync(this);
    }

    /// <summary>A client sending a bearer token for <paramref name="user"/>.</summary>
    public HttpClient Bearer(Guid user) =>
        new HttpClient { BaseAddress = Address, Timeout = Timeout.InfiniteTimeSpan }.SignedIn(user);

    /// <summary>A client holding a console session of <paramref name="user"/>, signed in by pasting a token as a person does.</summary>
    public async Task<HttpClient> ConsoleAsync(Guid user)
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() })
        {
            BaseAddress = Address,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var form = await client.GetStringAsync("/console");
        var antiforgery = Regex.Match(form, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        using var signIn = await client.PostAsync("/console", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "sign-in",
            ["Token"] = TestTokens.For(user),
            ["__RequestVerificationToken"] = antiforgery,
        }));
        var home = await client.GetStringAsync("/console");
        Assert.Contains("Members of Family", home);
        return client;
    }
}

/// <summary>
/// The celebrant must not learn who gives what on their own wishlist, whatever they read. Acting as
/// the celebrant who also owns the group (the usual set-up), every read path a person can reach is
/// walked over the real server, serving as lockstep_api: each GET route (listed from the app's
/// EndpointDataSource: a GET route without a row here fails), each public function over
/// /rest/v1/rpc (listed from the catalog: a function without an entry fails) by POST, by GET when it
/// is not volatile and in batches, the live notification streams and their replay, and every
/// console page. An answer fails when it holds a sentinel of <see cref="PrivacyWorld"/>.
/// </summary>
public sealed class CelebrantPrivacyMatrixTests(CelebrantPrivacyFixture server, ITestOutputHelper output) : IClassFixture<CelebrantPrivacyFixture>
{
    private PrivacyWorld World => server.World;

    private enum Via
    {
        /// <summary>GET with the celebrant's bearer token.</summary>
        Bearer,

        /// <summary>GET with the celebrant's console session.</summary>
        Console,

        /// <summary>A live stream, walked by <see cref="NotificationStreams_WhenClaimsHappenWhileTheCelebrantListens_SendNoClaimDetail"/>.</summary>
        Stream,

        /// <summary>Every non-volatile public function, walked by <see cref="PublicFunctions_WhenTheCelebrantOwnerCallsEachOverRpc_ShowNoClaimDetail"/>.</summary>
        Rpc,
    }

    private sealed record Row(Via Via, Func<PrivacyWorld, IEnumerable<string>>? Paths = null);

    private static Row Bearer(Func<PrivacyWorld, IEnumerable<string>> paths) => new(Via.Bearer, paths);

    private static Row Console(Func<PrivacyWorld, IEnumerable<string>> paths) => new(Via.Console, paths);

    private static IEnumerable<Guid> Items(PrivacyWorld w) => w.OwnItems.Concat(w.AuntItems);

    /// <summary>The audit trail whole, per gift table, and per entity: each a way to probe for a claim, a full page of it.</summary>
    private static IEnumerable<string> AuditQueries(PrivacyWorld w) =>
        new[] { "", "entity_table=gifts.gift_claims", "entity_table=gifts.wishlist_items", "entity_table=gifts.notifications" }
            .Concat(w.OwnItems.Select(i => $"entity_table=gifts.wishlist_items&entity_id={i}"))
            .Concat(w.ClaimDerived.Select(r => $"entity_table={r.Table}&entity_id={r.Id}"))
            .Concat(w.ClaimDerived.Select(r => $"entity_id={r.Id}"))
            .Select(q => q.Length == 0 ? $"limit={MaxPage}" : $"{q}&limit={MaxPage}");

    private const int MaxPage = 200;

    /// <summary>Every entry of the audit trail, read page by page as a client would.</summary>
    private static async Task<List<JsonElement>> AuditEntriesAsync(HttpClient client, Guid workspace)
    {
        var entries = new List<JsonElement>();
        var path = $"/api/workspaces/{workspace}/audit?limit={MaxPage}";
        for (var url = path; url is not null;)
        {
            var page = JsonDocument.Parse(await client.GetStringAsync(url)).RootElement.Clone();
            entries.AddRange(page.GetProperty("entries").EnumerateArray());
            url = page.GetProperty("next_before").GetString() is { } next ? $"{path}&before={Uri.EscapeDataString(next)}" : null;
        }
        return entries;
    }

    private static readonly Dictionary<string, Row> GetRoutes = new(StringComparer.Ordinal)
    {
        ["GET /health/live"] = Bearer(_ => ["/health/live"]),
        ["GET /health/ready"] = Bearer(_ => ["/health/ready"]),
        ["GET /openapi/{documentName}.json"] = Bearer(_ => ["/openapi/v1.json"]),
        ["GET /rest/v1/rpc/{function}"] = new(Via.Rpc),
        ["GET /api/workspaces/"] = Bearer(_ => ["/api/workspaces"]),
        ["GET /api/workspaces/{workspaceId}/members"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/members"]),
        ["GET /api/workspaces/{workspaceId}/audit/"] = Bearer(w => AuditQueries(w).Select(q => $"/api/workspaces/{w.Workspace}/audit?{q}")),

        ["GET /console"] = Console(_ => ["/console"]),
        ["GET /console/calendar"] = Console(_ => ["/console/calendar"]),
        ["GET /console/clients"] = Console(_ => ["/console/clients"]),
        ["GET /console/clients/{ClientId:guid}"] = Console(w => [$"/console/clients/{w.Client}"]),
        ["GET /console/leads"] = Console(_ => ["/console/leads"]),
        ["GET /console/live"] = new(Via.Stream),
        ["GET /console/notifications"] = Console(_ => ["/console/notifications"]),
        ["GET /console/wishlists"] = Console(_ => ["/console/wishlists"]),
        ["GET /console/wishlists/{WishlistId:guid}"] = Console(w => [$"/console/wishlists/{w.OwnWishlist}", $"/console/wishlists/{w.AuntWishlist}"]),
        ["GET /_framework/opaque-redirect"] = Console(_ => ["/_framework/opaque-redirect"]),

        ["GET /api/workspaces/{workspaceId}/clients/"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/clients"]),
        ["GET /api/workspaces/{workspaceId}/clients/{clientId}"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/clients/{w.Client}"]),
        ["GET /api/workspaces/{workspaceId}/leads"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/leads"]),
        ["GET /api/workspaces/{workspaceId}/conversations"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/conversations"]),
        ["GET /api/workspaces/{workspaceId}/conversations/{conversationId}/messages"] =
            Bearer(w => [$"/api/workspaces/{w.Workspace}/conversations/{w.Conversation}/messages"]),
        ["GET /api/webhooks/whatsapp/"] = Bearer(_ => ["/api/webhooks/whatsapp"]),

        ["GET /api/clients/{clientId}/purchases"] = Bearer(w => [$"/api/clients/{w.Client}/purchases"]),
        ["GET /api/purchases/{purchaseId}"] = Bearer(w => [$"/api/purchases/{w.Purchase}"]),
        ["GET /api/clients/{clientId}/bookings"] = Bearer(w => [$"/api/clients/{w.Client}/bookings"]),
        ["GET /api/workspaces/{workspaceId}/clients/{clientId}/purchases"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/clients/{w.Client}/purchases"]),
        ["GET /api/workspaces/{workspaceId}/purchases/{purchaseId}"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/purchases/{w.Purchase}"]),
        ["GET /api/workspaces/{workspaceId}/clients/{clientId}/bookings"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/clients/{w.Client}/bookings"]),
        ["GET /api/workspaces/{workspaceId}/calendar"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/calendar?from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-1).ToString("O"))}&to={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(30).ToString("O"))}"]),

        ["GET /api/workspaces/{workspaceId}/wishlists/"] = Bearer(w => [$"/api/workspaces/{w.Workspace}/wishlists"]),
        ["GET /api/wishlists/{wishlistId}/"] = Bearer(w => [$"/api/wishlists/{w.OwnWishlist}", $"/api/wishlists/{w.AuntWishlist}"]),
        ["GET /api/wishlist-items/{itemId}/split"] = Bearer(w => Items(w).Select(i => $"/api/wishlist-items/{i}/split")),
        ["GET /api/wishlist-items/{itemId}/split/suggested-share"] = Bearer(w => Items(w).Select(i => $"/api/wishlist-items/{i}/split/suggested-share")),
        ["GET /api/workspaces/{workspaceId}/wishlists/{wishlistId}"] =
            Bearer(w => [$"/api/workspaces/{w.Workspace}/wishlists/{w.OwnWishlist}", $"/api/workspaces/{w.Workspace}/wishlists/{w.AuntWishlist}"]),
        ["GET /api/workspaces/{workspaceId}/wishlist-items/{itemId}/split"] =
            Bearer(w => Items(w).Select(i => $"/api/workspaces/{w.Workspace}/wishlist-items/{i}/split")),
        ["GET /api/workspaces/{workspaceId}/wishlist-items/{itemId}/split/suggested-share"] =
            Bearer(w => Items(w).Select(i => $"/api/workspaces/{w.Workspace}/wishlist-items/{i}/split/suggested-share")),
        ["GET /api/notifications/"] = Bearer(_ => ["/api/notifications", "/api/notifications?unread=true", "/api/notifications?limit=200"]),
        ["GET /api/notifications/stream"] = new(Via.Stream),
    };

    private static Dictionary<string, object?> A(params (string Name, object? Value)[] args) => args.ToDictionary(a => a.Name, a => a.Value);

    /// <summary>
    /// Every public function the server may call, with arguments from the planted world. Functions
    /// that write are called too, as probes: their refusals must not tell the celebrant anything
    /// either; their arguments are chosen so that nothing planted changes.
    /// </summary>
    private static readonly Dictionary<string, Func<PrivacyWorld, IEnumerable<Dictionary<string, object?>>>> Calls = new(StringComparer.Ordinal)
    {
        // Platform
        ["list_workspaces"] = _ => [A()],
        ["list_members"] = w => [A(("p_workspace_id", w.Workspace))],
        ["get_audit_log"] = w => AuditQueries(w).Select(q =>
        {
            var args = A(("p_workspace_id", w.Workspace));
            foreach (var pair in q.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')))
            {
                args["p_" + pair[0]] = pair[0] == "limit" ? int.Parse(pair[1]) : pair[1];
            }
            return args;
        }),
        ["create_workspace"] = _ => [A(("p_name", "Probe"))],
        ["add_member"] = w => [A(("p_workspace_id", w.Workspace), ("p_user_id", Guid.NewGuid()), ("p_role", "member"), ("p_display_name", "Probe Person"))],
        ["set_member_role"] = w => [A(("p_workspace_id", w.Workspace), ("p_user_id", Guid.NewGuid()), ("p_role", "admin"))],
        ["remove_member"] = w => [A(("p_workspace_id", w.Workspace), ("p_user_id", Guid.NewGuid()))],

        // CRM
        ["list_clients"] = w => [A(("p_workspace_id", w.Workspace))],
        ["get_client"] = w => [A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client))],
        ["create_client_with_contact"] = w => [A(("p_workspace_id", w.Workspace), ("p_client_name", "Probe"), ("p_contact_name", "Probe P"))],
        ["add_contact"] = w => [A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client), ("p_name", "Probe Contact"))],
        ["set_primary_contact"] = w => [A(("p_client_id", w.Client), ("p_contact_id", w.Contact)),
            A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client), ("p_contact_id", w.Contact))],
        ["upsert_contact_by_phone"] = w => [A(("p_workspace_id", w.Workspace), ("p_phone", "+15550100399"), ("p_name", "Probe"))],
        ["import_contacts"] = w => [A(("p_workspace_id", w.Workspace), ("p_rows", new[] { new { name = "Probe", phone = "+15550100398" } }))],

        // Leads
        ["list_leads"] = w => [A(("p_workspace_id", w.Workspace))],
        ["list_conversations"] = w => [A(("p_workspace_id", w.Workspace))],
        ["list_messages"] = w => [A(("p_workspace_id", w.Workspace), ("p_conversation_id", w.Conversation))],
        ["create_lead_with_conversation"] = w => [A(("p_workspace_id", w.Workspace), ("p_customer_phone", "+15550100397"), ("p_customer_name", "Probe"), ("p_lead_type", "inquiry"))],
        ["send_whatsapp_message"] = w => [A(("p_workspace_id", w.Workspace), ("p_to", "+15550100396"), ("p_message", "Hi"))],

        // Sessions: a session changes only on a pack or booking nobody has
        ["get_purchase"] = w => [A(("p_purchase_id", w.Purchase)), A(("p_workspace_id", w.Workspace), ("p_purchase_id", w.Purchase))],
        ["list_client_purchases"] = w => [A(("p_client_id", w.Client)), A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client))],
        ["list_client_bookings"] = w => [A(("p_client_id", w.Client)), A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client))],
        ["booking_calendar"] = w => [A(("p_workspace_id", w.Workspace), ("p_from", DateTimeOffset.UtcNow.AddDays(-1)), ("p_to", DateTimeOffset.UtcNow.AddDays(30)))],
        ["create_purchase"] = w => [A(("p_client_id", w.Client), ("p_sessions_total", 5)), A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client), ("p_sessions_total", 5))],
        ["use_session"] = w => [A(("p_purchase_id", Guid.NewGuid())), A(("p_workspace_id", w.Workspace), ("p_purchase_id", Guid.NewGuid()))],
        ["consume_session"] = w => [A(("p_purchase_id", Guid.NewGuid())), A(("p_workspace_id", w.Workspace), ("p_purchase_id", Guid.NewGuid()))],
        ["reinstate_session"] = w => [A(("p_purchase_id", Guid.NewGuid())), A(("p_workspace_id", w.Workspace), ("p_purchase_id", Guid.NewGuid()))],
        ["release_session"] = w => [A(("p_purchase_id", Guid.NewGuid())), A(("p_workspace_id", w.Workspace), ("p_purchase_id", Guid.NewGuid()))],
        ["create_booking"] = w => [A(("p_client_id", w.Client), ("p_starts_at", DateTimeOffset.UtcNow.AddDays(3)), ("p_ends_at", DateTimeOffset.UtcNow.AddDays(3).AddHours(1))), A(("p_workspace_id", w.Workspace), ("p_client_id", w.Client), ("p_starts_at", DateTimeOffset.UtcNow.AddDays(3)), ("p_ends_at", DateTimeOffset.UtcNow.AddDays(3).AddHours(1)))],
        ["complete_booking"] = w => [A(("p_booking_id", Guid.NewGuid())), A(("p_workspace_id", w.Workspace), ("p_booking_id", Guid.NewGuid()))],
        ["mark_no_show"] = w => [A(("p_booking_id", Guid.NewGuid())), A(("p_workspace_id", w.Workspace), ("p_booking_id", Guid.NewGuid()))],
        ["cancel_booking"] = w => [A(("p_booking_id", Guid.NewGuid()), ("p_reinstate", true)), A(("p_workspace_id", w.Workspace), ("p_booking_id", Guid.NewGuid()), ("p_reinstate", true))],

        // Gifts: on the celebrant's own items every call that touches a claim is a probe.
        ["list_wishlists"] = w => [A(("p_workspace_id", w.Workspace))],
        ["get_wishlist"] = w => [A(("p_wishlist_id", w.OwnWishlist)), A(("p_wishlist_id", w.AuntWishlist)), A(("p_workspace_id", w.Workspace), ("p_wishlist_id", w.OwnWishlist)), A(("p_workspace_id", w.Workspace), ("p_wishlist_id", w.AuntWishlist))],
        ["get_split_status"] = w => Items(w).SelectMany(i => new[] { A(("p_item_id", i)), A(("p_workspace_id", w.Workspace), ("p_item_id", i)) }),
        ["get_suggested_share"] = w => Items(w).SelectMany(i => new[] { A(("p_item_id", i)), A(("p_workspace_id", w.Workspace), ("p_item_id", i)) }),
        ["list_notifications"] = _ => [A(), A(("p_unread_only", true)), A(("p_limit", 200))],
        ["notification_cursor"] = _ => [A(), A(("p_last_event_id", "0"))],
        ["notifications_since"] = _ => [A(("p_cursor", "")), A(("p_cursor", "0"), ("p_limit", 500))],
        ["create_wishlist"] = w => [A(("p_workspace_id", w.Workspace), ("p_title", "Probe list"))],
        ["add_wishlist_item"] = w => [A(("p_wishlist_id", w.OwnWishlist), ("p_title", "Probe item"), ("p_price", 1.00m)),
            A(("p_workspace_id", w.Workspace), ("p_wishlist_id", w.OwnWishlist), ("p_title", "Probe item"), ("p_price", 1.00m))],
        ["claim_item"] = w => w.OwnItems.SelectMany(i => new[] { A(("p_item_id", i)), A(("p_workspace_id", w.Workspace), ("p_item_id", i)) }),
        ["unclaim_item"] = w => w.OwnItems.SelectMany(i => new[] { A(("p_item_id", i)), A(("p_workspace_id", w.Workspace), ("p_item_id", i)) }),
        ["open_split"] = w => w.OwnItems.SelectMany(i => new[]
            { A(("p_item_id", i), ("p_additional_costs", 1.00m)), A(("p_workspace_id", w.Workspace), ("p_item_id", i), ("p_additional_costs", 1.00m)) }),
        ["pledge_contribution"] = w => w.OwnItems.SelectMany(i => new[]
            { A(("p_item_id", i), ("p_amount", 1.00m)), A(("p_workspace_id", w.Workspace), ("p_item_id", i), ("p_amount", 1.00m)) }),
        ["close_split"] = w => w.OwnItems.SelectMany(i => new[] { A(("p_item_id", i)), A(("p_workspace_id", w.Workspace), ("p_item_id", i)) }),
        ["mark_notification_read"] = w => w.ClaimDerived.Where(r => r.Table == "gifts.notifications").Select(r => A(("p_notification_id", r.Id))),
        ["mark_all_notifications_read"] = _ => [A()],
    };

    [Fact]
    public async Task Matrix_WhenReadPathsAreListedFromTheAppAndTheCatalog_HasExactlyOneRowForEach()
    {
        var routes = RouteWorld.Endpoints(server.Factory.Services).Where(e => RouteWorld.Method(e) == "GET").Select(RouteWorld.Key).ToList();
        var functions = (await PublicFunctionsAsync()).Select(f => f.Name).Distinct().ToList();

        var problems = routes.Except(GetRoutes.Keys).Select(r => $"GET route without a row in {nameof(GetRoutes)}: {r}")
            .Concat(GetRoutes.Keys.Except(routes).Select(r => $"row for a GET route that no longer exists: {r}"))
            .Concat(functions.Except(Calls.Keys).Select(f => $"public function without an entry in {nameof(Calls)}: {f}"))
            .Concat(Calls.Keys.Except(functions).Select(f => $"entry for a function that no longer exists: {f}"))
            .ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task Sentinels_WhenAGiverReadsTheSplit_AreFound()
    {
        // The matrix proves something only if what it looks for is there to be seen by those allowed to.
        using var pledger = server.Bearer(World.Pledger);
        var bicycle = World.OwnItems[0];
        var split = await pledger.GetStringAsync($"/api/wishlist-items/{bicycle}/split");
        var found = World.Sentinels.Find("split status as Piet", split);

        Assert.Contains(found, f => f.Contains("37.13", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("4.87", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("together with the celebrant's item", StringComparison.Ordinal));
        Assert.Empty(World.Sentinels.Find("member list as Cora", await server.Bearer(World.Celebrant).GetStringAsync($"/api/workspaces/{World.Workspace}/members")));
    }

    [Fact]
    public async Task ApiRoutes_WhenTheCelebrantOwnerReadsEveryGet_ShowNoClaimDetail()
    {
        using var client = server.Bearer(World.Celebrant);
        var leaks = new List<string>();
        var reads = 0;
        foreach (var (route, row) in GetRoutes.Where(r => r.Value.Via == Via.Bearer))
        {
            foreach (var path in row.Paths!(World))
            {
                using var response = await client.GetAsync(path);
                var body = await response.Content.ReadAsStringAsync();
                reads++;
                if ((int)response.StatusCode >= 500)
                {
                    leaks.Add($"{route} {path}: {(int)response.StatusCode} {body}");
                }
                leaks.AddRange(World.Sentinels.Find($"{route} {path} ({(int)response.StatusCode})", body));
            }
        }

        output.WriteLine($"{reads} GET requests as the celebrant-owner; {leaks.Count} leaks");
        Assert.True(leaks.Count == 0, Report("the celebrant read who gives what", leaks));
    }

    [Fact]
    public async Task PublicFunctions_WhenTheCelebrantOwnerCallsEachOverRpc_ShowNoClaimDetail()
    {
        using var client = server.Bearer(World.Celebrant);
        var leaks = new List<string>();
        var batch = new List<object>();
        var calls = 0;
        foreach (var (name, volatility) in await PublicFunctionsAsync())
        {
            foreach (var args in Calls[name](World))
            {
                var body = JsonSerializer.Serialize(args);
                using var post = await client.PostAsync($"/rest/v1/rpc/{name}", Http.Json(body));
                var answer = await post.Content.ReadAsStringAsync();
                calls++;
                leaks.AddRange(Unusable($"POST rpc/{name} {body}", post, answer));
                leaks.AddRange(World.Sentinels.Find($"POST rpc/{name} {body}", answer));
                if (volatility == 'v')
                {
                    continue;
                }
                if (post.StatusCode == HttpStatusCode.OK && !IsRefusal(answer))
                {
                    batch.Add(new { fn = name, args });
                }
                var query = string.Join("&", args.Select(a => $"{a.Key}={Uri.EscapeDataString(Invariant(a.Value))}"));
                using var get = await client.GetAsync($"/rest/v1/rpc/{name}?{query}");
                var read = await get.Content.ReadAsStringAsync();
                calls++;
                leaks.AddRange(Unusable($"GET rpc/{name}?{query}", get, read));
                leaks.AddRange(World.Sentinels.Find($"GET rpc/{name}?{query}", read));
            }
        }
        // In batches of the most calls one may hold (Lockstep:Rpc:MaxBatchCalls).
        foreach (var chunk in batch.Chunk(50))
        {
            using var batched = await client.PostAsync("/rest/v1/rpc", Http.Json(JsonSerializer.Serialize(new { calls = chunk })));
            var results = await batched.Content.ReadAsStringAsync();
            Assert.True(batched.StatusCode == HttpStatusCode.OK, results);
            leaks.AddRange(World.Sentinels.Find($"POST rpc batch of {chunk.Length} reads", results));
        }

        output.WriteLine($"{calls} rpc calls and a batch of {batch.Count} as the celebrant-owner; {leaks.Count} leaks");
        Assert.True(leaks.Count == 0, Report("the celebrant read who gives what", leaks));
    }

    [Fact]
    public async Task ConsolePages_WhenTheCelebrantOwnerOpensEach_ShowNoClaimDetail()
    {
        using var console = await server.ConsoleAsync(World.Celebrant);
        var leaks = new List<string>();
        foreach (var (route, row) in GetRoutes.Where(r => r.Value.Via == Via.Console))
        {
            foreach (var path in row.Paths!(World))
            {
                using var response = await console.GetAsync(path);
                var html = await response.Content.ReadAsStringAsync();
                if (path.StartsWith("/console", StringComparison.Ordinal) && !html.Contains("Sign out", StringComparison.Ordinal))
                {
                    leaks.Add($"{route} {path}: not rendered for the signed-in celebrant ({(int)response.StatusCode})");
                }
                leaks.AddRange(World.Sentinels.Find($"{route} {path}", WebUtility.HtmlDecode(html)));
            }
        }

        Assert.True(leaks.Count == 0, Report("the celebrant read who gives what", leaks));
    }

    [Fact]
    public async Task NotificationStreams_WhenClaimsHappenWhileTheCelebrantListens_SendNoClaimDetail()
    {
        Assert.Equal(["GET /api/notifications/stream", "GET /console/live"], GetRoutes.Where(r => r.Value.Via == Via.Stream).Select(r => r.Key).Order());
        using var api = server.Bearer(World.Celebrant);
        using var console = await server.ConsoleAsync(World.Celebrant);
        var (live, liveReader) = await OpenAsync(api, "/api/notifications/stream", null, ": connected");
        var (consoleLive, consoleReader) = await OpenAsync(console, "/console/live", null, "event: ready");
        using var _ = live;
        using var __ = consoleLive;

        // While both listen: a new split with a pledge on the celebrant's wishlist, then a claim on
        // Ada's, which the celebrant is told about: once that arrives, anything before it has too.
        var globe = await PrivacyWorld.ItemAsync(server, World.Celebrant, World.OwnWishlist, "Snow Globe", 33.00m);
        await PrivacyWorld.Ok(server, World.Claimer, "select public.claim_item($1)", globe);
        await PrivacyWorld.Ok(server, World.Claimer, "select public.open_split($1, $2)", globe, 7.77m);
        await PrivacyWorld.Ok(server, World.Pledger, "select public.pledge_contribution($1, $2)", globe, 3.21m);
        var mug = await PrivacyWorld.ItemAsync(server, World.Aunt, World.AuntWishlist, "Ada Mug", 12.00m);
        await PrivacyWorld.Ok(server, World.Claimer, "select public.claim_item($1)", mug);
        var sentinels = World.Sentinels.With(
            new() { ["7.77"] = "the additional costs of Snow Globe", ["40.77"] = "the total of Snow Globe", ["3.21"] = "Piet's pledge to Snow Globe", ["37.56"] = "what remains of Snow Globe" },
            PrivacyWorld.IdsOf(await PrivacyWorld.ClaimDerivedRowsAsync(server, World.Workspace, [globe])),
            [globe.ToString(), "Snow Globe"]);

        var leaks = new List<string>();
        foreach (var data in await ReadUntilAsync(liveReader, d => d.Contains(mug.ToString(), StringComparison.Ordinal)))
        {
            leaks.AddRange(sentinels.Find("/api/notifications/stream", data));
        }
        foreach (var data in await ReadUntilAsync(consoleReader, d => d.Contains("Ada Mug", StringComparison.Ordinal)))
        {
            leaks.AddRange(sentinels.Find("/console/live", data));
        }
        var (replay, replayReader) = await OpenAsync(api, "/api/notifications/stream", "0", ": connected");
        using var ___ = replay;
        var replayed = await ReadUntilAsync(replayReader, d => d.Contains(mug.ToString(), StringComparison.Ordinal));
        foreach (var data in replayed)
        {
            leaks.AddRange(sentinels.Find("/api/notifications/stream with Last-Event-ID: 0", data));
        }

        output.WriteLine($"replayed {replayed.Count} notifications of the celebrant");
        Assert.True(leaks.Count == 0, Report("the celebrant was told who gives what", leaks));
    }

    [Fact]
    public async Task AuditLog_WhenTheCelebrantOwnerReadsIt_KeepsTheirWishlistAndTheClaimsOnOthersWishlists()
    {
        using var client = server.Bearer(World.Celebrant);
        var entries = await AuditEntriesAsync(client, World.Workspace);
        string? After(JsonElement e, string field) =>
            e.GetProperty("after").ValueKind == JsonValueKind.Object && e.GetProperty("after").TryGetProperty(field, out var v) ? v.ToString() : null;

        Assert.Contains(entries, e => e.GetProperty("entity_table").GetString() == "gifts.wishlists" && e.GetProperty("entity_id").GetString() == World.OwnWishlist.ToString());
        var ownItems = entries.Where(e => e.GetProperty("entity_table").GetString() == "gifts.wishlist_items"
                                          && World.OwnItems.Select(i => i.ToString()).Contains(e.GetProperty("entity_id").GetString())).ToList();
        Assert.Equal(World.OwnItems.Length, ownItems.Count(e => e.GetProperty("action").GetString() == "insert"));
        Assert.All(ownItems, e => Assert.Null(After(e, "additional_costs")));
        Assert.Equal("Red Bicycle", After(ownItems.First(e => e.GetProperty("entity_id").GetString() == World.OwnItems[0].ToString()), "title"));
        // On Ada's wishlist the celebrant is a member like the others: the owner still reads those claims.
        var teapot = World.AuntItems[1].ToString();
        Assert.Contains(entries, e => e.GetProperty("entity_table").GetString() == "gifts.gift_claims" && After(e, "item_id") == teapot && After(e, "amount") == "5.55");
        Assert.Contains(entries, e => e.GetProperty("entity_table").GetString() == "gifts.wishlist_items" && e.GetProperty("entity_id").GetString() == teapot
                                      && e.GetProperty("action").GetString() == "update" && After(e, "additional_costs") == "3.33");
        Assert.Contains(entries, e => e.GetProperty("entity_table").GetString() == "gifts.notifications" && After(e, "data")?.Contains(teapot, StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task AuditLog_WhenMoreThanAPageOfHiddenChangesFollow_StillShowsTheCelebrantFullPagesOfTheirOwn()
    {
        // Hidden rows must not take places on a page: how many went missing would tell how much was given.
        var group = await GiftGroup.CreateAsync(server, others: 2);
        await server.ScalarAsUserAsync<long>(group.Celebrant,
            "select count(public.add_wishlist_item($1, 'Gift ' || g, 10.00)) from generate_series(1, 180) g", group.Wishlist);
        var items = await server.ScalarAsync<Guid[]>("select array_agg(id) from gifts.wishlist_items where workspace_id = $1 and wishlist_id = $2", group.Workspace, group.Wishlist);
        await server.ScalarAsUserAsync<long>(group.Claimer, "select count(public.claim_item(i)) from unnest($1::uuid[]) i", [items]);
        Assert.True(await server.ScalarAsync<long>("select count(*) from platform.audit_log where workspace_id = $1 and entity_table like 'gifts.%' and entity_table <> 'gifts.wishlist_items'", group.Workspace) > 500);

        using var client = server.Bearer(group.Celebrant);
        var first = JsonDocument.Parse(await client.GetStringAsync($"/api/workspaces/{group.Workspace}/audit?limit=100")).RootElement;
        Assert.Equal(100, first.GetProperty("entries").GetArrayLength());
        Assert.DoesNotContain(first.GetProperty("entries").EnumerateArray(), e => e.GetProperty("entity_table").GetString() is "gifts.gift_claims" or "gifts.notifications");
        var entries = await AuditEntriesAsync(client, group.Workspace);

        Assert.Contains(entries, e => e.GetProperty("entity_table").GetString() == "gifts.wishlists" && e.GetProperty("entity_id").GetString() == group.Wishlist.ToString());
        Assert.Equal(180, entries.Count(e => e.GetProperty("entity_table").GetString() == "gifts.wishlist_items"));
        Assert.DoesNotContain(entries, e => e.GetProperty("entity_table").GetString() is "gifts.gift_claims" or "gifts.notifications");
    }

    [Fact]
    public async Task GiftTables_WhenListedFromTheCatalog_EachRowLeadsToItsItemForTheAuditRule()
    {
        // get_audit_log hides a row from the celebrant by the item it concerns: the key of an item row,
        // a notification's data.item_id, or the item_id column of any other gifts table.
        // gifts.notification_counters is not audited (AuditTrailTests.NotAudited).
        await using var command = server.DataSource.CreateCommand("""
            select c.oid::regclass::text from pg_class c
            where c.relkind in ('r', 'p') and c.relnamespace = 'gifts'::regnamespace
              and c.oid not in ('gifts.wishlists'::regclass, 'gifts.wishlist_items'::regclass, 'gifts.notifications'::regclass,
                                'gifts.notification_counters'::regclass)
              and not exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'item_id' and not a.attisdropped)
            order by 1
            """);
        var unmapped = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            unmapped.Add(reader.GetString(0));
        }
        Assert.True(unmapped.Count == 0, "gifts tables whose audit rows get_audit_log cannot tie to an item (db/functions/platform/audit.sql):\n"
            + string.Join("\n", unmapped));
    }

    private async Task<List<(string Name, char Volatility)>> PublicFunctionsAsync()
    {
        var functions = new List<(string, char)>();
        await using var command = server.DataSource.CreateCommand("""
            select p.proname, p.provolatile from pg_proc p
            where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
              and has_function_privilege('lockstep_api', p.oid, 'execute')
            order by 1
            """);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            functions.Add((reader.GetString(0), reader.GetChar(1)));
        }
        return functions;
    }

    /// <summary>An answer that tested nothing: the call did not reach the function, or the server failed.</summary>
    private static IEnumerable<string> Unusable(string call, HttpResponseMessage response, string body)
    {
        if ((int)response.StatusCode >= 500 || body.Contains("\"PGRST202\"", StringComparison.Ordinal))
        {
            yield return $"{call}: {(int)response.StatusCode} {body}";
        }
    }

    /// <summary>The distinct leaks, the first 40 of them spelled out.</summary>
    private static string Report(string what, List<string> leaks)
    {
        var distinct = leaks.Distinct().ToList();
        return $"{what} ({distinct.Count} findings):\n" + string.Join("\n", distinct.Take(40))
               + (distinct.Count > 40 ? $"\n… and {distinct.Count - 40} more" : "");
    }

    private static bool IsRefusal(string body)
    {
        using var json = JsonDocument.Parse(body);
        return json.RootElement.ValueKind == JsonValueKind.Object
               && json.RootElement.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False;
    }

    private static string Invariant(object? value) => value switch
    {
        null => "",
        bool b => b ? "true" : "false",
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };

    private static async Task<(HttpResponseMessage Response, StreamReader Reader)> OpenAsync(HttpClient client, string path, string? lastEventId, string firstLine)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        Assert.Equal(firstLine, await reader.ReadLineAsync());
        return (response, reader);
    }

    /// <summary>Every event's data until one satisfies <paramref name="last"/> (that one included).</summary>
    private static async Task<List<string>> ReadUntilAsync(StreamReader reader, Func<string, bool> last)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var data = new List<string>();
        while (true)
        {
            var line = await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException();
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(line[6..]);
                if (last(line[6..]))
                {
                    return data;
                }
            }
        }
    }
}
