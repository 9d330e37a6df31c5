using System.Net;
using System.Text;
using Lockstep.Platform.Http;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// One rule for what a successful POST answers: 201 with a Location only when it created a row that has
/// its own URL (a GET route, which the caller can then read); 202 when the work is queued (a WhatsApp
/// send, whose Location is the conversation where its status shows); 200 otherwise. A keyed retry answers the same status and Location. Every POST route of the app
/// has a row (the webhook aside: Meta calls it unsigned-in, with no Idempotency-Key, and it answers 200,
/// WhatsAppWebhookTests).
/// </summary>
public sealed class PostStatusTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Webhook = "POST /api/webhooks/whatsapp/";

    private sealed record Row(int Status, Func<RouteWorld, Guid> Caller, Func<RouteWorld, string>? Body = null, Func<ServerFixture, RouteWorld, Task>? Setup = null);

    private static readonly Dictionary<string, Row> Rows = RouteWorld.WithWorkspaceTwins(new Dictionary<string, Row>(StringComparer.Ordinal)
    {
        ["POST /rest/v1/rpc/{function}"] = new(200, w => w.Owner, _ => """{"p_name":"Rpc"}"""),
        ["POST /rest/v1/rpc"] = new(200, w => w.Owner, _ => """{"calls":[{"fn":"create_workspace","args":{"p_name":"Batch"}}]}"""),
        ["POST /api/workspaces/"] = new(200, w => w.Owner, _ => """{"name":"New"}"""),
        ["POST /api/workspaces/{workspaceId}/members"] = new(200, w => w.Owner, _ => $$"""{"user_id":"{{Guid.NewGuid()}}"}"""),
        ["POST /api/workspaces/{workspaceId}/clients/"] = new(201, w => w.Owner,
            _ => """{"client_name":"Bob","contact_name":"Bob B","contact_phone":"+15550100999"}"""),
        ["POST /api/workspaces/{workspaceId}/clients/{clientId}/contacts"] = new(200, w => w.Owner, _ => """{"name":"Second","phone":"+15550100998"}"""),
        ["POST /api/workspaces/{workspaceId}/contacts"] = new(200, w => w.Owner, _ => """{"name":"Loose","phone":"+15550100997"}"""),
        ["POST /api/workspaces/{workspaceId}/contacts:upsert"] = new(200, w => w.Owner, _ => """{"phone":"+15550100996","name":"Up"}"""),
        ["POST /api/workspaces/{workspaceId}/contacts:import"] = new(200, w => w.Owner, _ => """[{"name":"Imp","phone":"+15550100995"}]"""),
        ["POST /api/workspaces/{workspaceId}/leads"] = new(200, w => w.Owner,
            _ => """{"customer_phone":"+15550100994","customer_name":"Lee","type":"order"}"""),
        ["POST /api/workspaces/{workspaceId}/leads:batch"] = new(200, w => w.Owner,
            _ => """{"leads":[{"customer_phone":"+15550100993","customer_name":"Lee","type":"order"}]}"""),
        ["POST /api/workspaces/{workspaceId}/whatsapp/"] = new(202, w => w.Owner, _ => """{"to":"+15550100222","template":{"name":"order_ready","language":"en_US","parameters":["Ann"]}}""", Connected),
        ["POST /api/clients/{clientId}/purchases"] = new(201, w => w.Owner, _ => """{"sessions_total":5,"price":50.00}"""),
        ["POST /api/purchases/{purchaseId}/use"] = new(200, w => w.Owner),
        ["POST /api/purchases/{purchaseId}/reinstate"] = new(200, w => w.Owner, Setup: UsedOnce),
        ["POST /api/clients/{clientId}/bookings"] = new(200, w => w.Owner,
            w => $$"""{"starts_at":"2030-01-02T10:00:00Z","ends_at":"2030-01-02T11:00:00Z","purchase_id":"{{w.Purchase}}"}"""),
        ["POST /api/bookings/{bookingId}/complete"] = new(200, w => w.Owner),
        ["POST /api/bookings/{bookingId}/cancel"] = new(200, w => w.Owner, _ => """{"reinstate":true}"""),
        ["POST /api/bookings/{bookingId}/no-show"] = new(200, w => w.Owner),
        ["POST /api/workspaces/{workspaceId}/wishlists/"] = new(201, w => w.Owner, _ => """{"title":"Wedding"}"""),
        ["POST /api/wishlists/{wishlistId}/items"] = new(200, w => w.Celebrant, _ => """{"title":"Lamp","price":40.00}"""),
        ["POST /api/wishlist-items/{itemId}/claim"] = new(200, w => w.Member),
        ["POST /api/wishlist-items/{itemId}/split"] = new(201, w => w.Member, _ => """{"additional_costs":10.00}""", Claimed),
        ["POST /api/wishlist-items/{itemId}/split/close"] = new(200, w => w.Member, Setup: Split),
        ["POST /api/wishlist-items/{itemId}/pledges"] = new(200, w => w.Admin, _ => """{"amount":10.00}""", Split),
        ["POST /api/notifications/{notificationId}/read"] = new(200, w => w.Admin, Setup: Claimed),
        ["POST /api/notifications/read-all"] = new(200, w => w.Admin, Setup: Claimed),
    });

    private static async Task Connected(ServerFixture server, RouteWorld w)
    {
        using var connected = await server.Client(w.Owner).PutAsync($"/api/workspaces/{w.Workspace}/whatsapp/connection",
            Http.Json($$"""{"phone_number_id":"{{w.WhatsAppNumber}}","access_token":"{{w.WhatsAppToken}}"}"""));
        connected.EnsureSuccessStatusCode();
    }

    private static Task UsedOnce(ServerFixture server, RouteWorld w) =>
        server.ScalarAsUserAsync<string>(w.Owner, "select public.consume_session($1)", w.Purchase);

    private static Task Claimed(ServerFixture server, RouteWorld w) =>
        server.ScalarAsUserAsync<string>(w.Member, "select public.claim_item($1)", w.Item);

    private static async Task Split(ServerFixture server, RouteWorld w)
    {
        await Claimed(server, w);
        await server.ScalarAsUserAsync<string>(w.Member, "select public.open_split($1, 0)", w.Item);
    }

    [Fact]
    public void Rows_WhenRoutesAreMapped_CoverEveryPostRoute()
    {
        var posts = RouteWorld.Endpoints(server.Factory.Services).Select(RouteWorld.Key)
            .Where(k => k.StartsWith("POST ", StringComparison.Ordinal) && k != Webhook).ToList();

        Assert.Empty(posts.Except(Rows.Keys));
        Assert.Empty(Rows.Keys.Except(posts));
    }

    public static TheoryData<string> Routes() => [.. Rows.Keys];

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Post_WhenItSucceedsAndIsRetriedWithItsKey_AnswersTheRuleStatusBothTimes(string route)
    {
        var row = Rows[route];
        var world = await RouteWorld.CreateAsync(server);
        if (row.Setup is not null)
        {
            await row.Setup(server, world);
        }
        var user = row.Caller(world);
        var notification = route.Contains("{notificationId}", StringComparison.Ordinal)
            ? await server.ScalarAsync<Guid>("select id from gifts.notifications where recipient_id = $1", user)
            : Guid.Empty;
        var path = System.Text.RegularExpressions.Regex.Replace(route["POST ".Length..], @"\{([^}:?]+)[^}]*\}",
            m => m.Groups[1].Value switch
            {
                "function" => "create_workspace",
                "notificationId" => notification.ToString(),
                var name => world.IdFor(name)!.Value.ToString(),
            });
        var key = Guid.NewGuid().ToString();
        var body = row.Body?.Invoke(world);
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path);
            request.Headers.Add(Idempotency.KeyHeader, key);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }
            return request;
        }
        var http = server.Client(user);

        using var first = await http.SendAsync(Request());
        using var replay = await http.SendAsync(Request());

        Assert.True(row.Status == (int)first.StatusCode, $"{route}: expected {row.Status}, got {(int)first.StatusCode}: {await first.Content.ReadAsStringAsync()}");
        Assert.Equal(row.Status, (int)replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues(Idempotency.ReplayedHeader).Single());
        Assert.Equal(first.Headers.Location, replay.Headers.Location);
        if (row.Status == 200)
        {
            Assert.Null(first.Headers.Location);
        }
        else
        {
            Assert.NotNull(first.Headers.Location);
            using var created = await http.GetAsync(first.Headers.Location);
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }
    }
}
