using System.Globalization;
using System.Text;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Support;
using Xunit.Abstractions;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// Every route × every kind of caller → the status it must answer, each cell on a fresh world (so no
/// cell sees another's writes). The routes come from the app's EndpointDataSource: a route without a
/// row here fails the test, and so does a row for a route that no longer exists.
/// Callers: no token, a token signed with another secret, the owner of another workspace, and a
/// member, admin and owner of the workspace; and the celebrant, a second owner whose wishlist it is
/// (the usual set-up: whoever made the group makes a wishlist for their own birthday), on every route.
/// What the celebrant may read behind a 200 is CelebrantPrivacyMatrixTests' concern.
/// </summary>
public sealed class AuthorizationMatrixTests(ServerFixture server, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    private static readonly string[] Callers = ["no token", "bad token", "other workspace", "member", "admin", "owner", "celebrant"];

    /// <summary>
    /// Expected statuses in the order of <see cref="Callers"/>. A request body (JSON) and query are
    /// made from the cell's own world. A route named by an id alone answers as its workspace-scoped twin.
    /// </summary>
    private static readonly Dictionary<string, Row> Matrix = RouteWorld.WithWorkspaceTwins(new Dictionary<string, Row>(StringComparer.Ordinal)
    {
        // Platform
        ["GET /health/live"] = new("200 401 200 200 200 200 200"),
        ["GET /health/ready"] = new("200 401 200 200 200 200 200"),
        ["GET /openapi/{documentName}.json"] = new("200 401 200 200 200 200 200", Path: "/openapi/v1.json"),
        ["POST /rest/v1/rpc/{function}"] = new("401 401 200 200 200 200 200", Path: "/rest/v1/rpc/list_members",
            Body: w => $$"""{"p_workspace_id":"{{w.Workspace}}"}"""),
        ["POST /rest/v1/rpc"] = new("401 401 422 200 200 200 200",
            Body: w => $$$"""{"calls":[{"fn":"list_members","args":{"p_workspace_id":"{{{w.Workspace}}}"}}]}"""),
        ["GET /rest/v1/rpc/{function}"] = new("401 401 200 200 200 200 200", Path: "/rest/v1/rpc/list_members",
            Query: w => $"p_workspace_id={w.Workspace}"),
        ["POST /api/workspaces/"] = new("401 401 200 200 200 200 200", Body: _ => """{"name":"New"}"""),
        ["GET /api/workspaces/"] = new("401 401 200 200 200 200 200"),
        ["GET /api/workspaces/{workspaceId}/members"] = new("401 401 404 200 200 200 200"),
        ["POST /api/workspaces/{workspaceId}/members"] = new("401 401 404 403 200 200 200",
            Body: _ => $$"""{"user_id":"{{Guid.NewGuid()}}","role":"member"}"""),
        ["PATCH /api/workspaces/{workspaceId}/members/{userId}"] = new("401 401 404 403 200 200 200", Body: _ => """{"role":"admin"}"""),
        ["GET /api/workspaces/{workspaceId}/audit/"] = new("401 401 404 403 403 200 200", Query: w => $"entity_table=crm.clients&entity_id={w.Client}"),
        ["DELETE /api/workspaces/{workspaceId}/members/{userId}"] = new("401 401 404 403 204 204 204"),

        // Console: server-rendered pages behind their own cookie session (a bearer token does not sign in)
        ["GET /console"] = new("200 401 200 200 200 200 200"),
        ["GET /console/calendar"] = new("200 401 200 200 200 200 200"),
        ["GET /console/clients"] = new("200 401 200 200 200 200 200"),
        ["GET /console/clients/{ClientId:guid}"] = new("200 401 200 200 200 200 200"),
        ["GET /console/leads"] = new("200 401 200 200 200 200 200"),
        ["GET /console/live"] = new("401 401 401 401 401 401 401"), // the live feed needs the console session cookie
        ["GET /console/notifications"] = new("200 401 200 200 200 200 200"),
        ["GET /console/wishlists"] = new("200 401 200 200 200 200 200"),
        ["GET /console/wishlists/{WishlistId:guid}"] = new("200 401 200 200 200 200 200"),
        ["GET /_framework/opaque-redirect"] = new("400 401 400 400 400 400 400"), // Blazor internal: needs its protected query

        // CRM
        ["POST /api/workspaces/{workspaceId}/clients/"] = new("401 401 404 201 201 201 201",
            Body: _ => """{"client_name":"Bob","contact_name":"Bob B","contact_phone":"+15550100999"}"""),
        ["GET /api/workspaces/{workspaceId}/clients/"] = new("401 401 404 200 200 200 200"),
        ["GET /api/workspaces/{workspaceId}/clients/{clientId}"] = new("401 401 404 200 200 200 200"),
        ["POST /api/workspaces/{workspaceId}/clients/{clientId}/contacts"] = new("401 401 404 200 200 200 200",
            Body: _ => """{"name":"Second","phone":"+15550100998"}"""),
        ["PUT /api/workspaces/{workspaceId}/clients/{clientId}/primary-contact"] = new("401 401 404 200 200 200 200",
            Body: w => $$"""{"contact_id":"{{w.Contact}}"}"""),
        ["POST /api/workspaces/{workspaceId}/contacts"] = new("401 401 404 200 200 200 200", Body: _ => """{"name":"Loose","phone":"+15550100997"}"""),
        ["POST /api/workspaces/{workspaceId}/contacts:upsert"] = new("401 401 404 200 200 200 200", Body: _ => """{"phone":"+15550100996","name":"Up"}"""),
        ["POST /api/workspaces/{workspaceId}/contacts:import"] = new("401 401 404 200 200 200 200", Body: _ => """[{"name":"Imp","phone":"+15550100995"}]"""),

        // Leads
        ["POST /api/workspaces/{workspaceId}/leads"] = new("401 401 404 200 200 200 200",
            Body: _ => """{"customer_phone":"+15550100994","customer_name":"Lee","type":"order"}"""),
        ["POST /api/workspaces/{workspaceId}/leads:batch"] = new("401 401 404 200 200 200 200",
            Body: _ => """{"leads":[{"customer_phone":"+15550100993","customer_name":"Lee","type":"order"}]}"""),
        ["GET /api/workspaces/{workspaceId}/leads"] = new("401 401 404 200 200 200 200"),
        ["GET /api/workspaces/{workspaceId}/conversations"] = new("401 401 404 200 200 200 200"),
        ["GET /api/workspaces/{workspaceId}/conversations/{conversationId}/messages"] = new("401 401 404 200 200 200 200"),
        ["PUT /api/workspaces/{workspaceId}/whatsapp/connection"] = new("401 401 404 403 200 200 200",
            Body: w => $$"""{"phone_number_id":"{{w.WhatsAppNumber}}","access_token":"{{w.WhatsAppToken}}"}"""),
        ["POST /api/workspaces/{workspaceId}/whatsapp/"] = new("401 401 404 422 422 422 422", Body: _ => """{"to":"+15550100992","message":"Hi"}"""),
        ["GET /api/webhooks/whatsapp/"] = new("403 401 403 403 403 403 403"),
        ["POST /api/webhooks/whatsapp/"] = new("401 401 401 401 401 401 401", Body: _ => """{"object":"whatsapp_business_account","entry":[]}"""),

        // Sessions
        ["GET /api/clients/{clientId}/purchases"] = new("401 401 404 200 200 200 200"),
        ["POST /api/clients/{clientId}/purchases"] = new("401 401 404 201 201 201 201", Body: _ => """{"sessions_total":5,"price":50.00}"""),
        ["GET /api/purchases/{purchaseId}"] = new("401 401 404 200 200 200 200"),
        ["POST /api/purchases/{purchaseId}/use"] = new("401 401 404 200 200 200 200"),
        ["POST /api/purchases/{purchaseId}/reinstate"] = new("401 401 404 422 422 422 422"),
        ["GET /api/clients/{clientId}/bookings"] = new("401 401 404 200 200 200 200"),
        ["POST /api/clients/{clientId}/bookings"] = new("401 401 404 200 200 200 200",
            Body: w => $$"""{"starts_at":"2030-01-02T10:00:00Z","ends_at":"2030-01-02T11:00:00Z","purchase_id":"{{w.Purchase}}"}"""),
        ["POST /api/bookings/{bookingId}/complete"] = new("401 401 404 200 200 200 200"),
        ["POST /api/bookings/{bookingId}/cancel"] = new("401 401 404 200 200 200 200", Body: _ => """{"reinstate":true}"""),
        ["POST /api/bookings/{bookingId}/no-show"] = new("401 401 404 200 200 200 200"),
        ["GET /api/workspaces/{workspaceId}/calendar"] = new("401 401 404 200 200 200 200",
            Query: _ => "from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00Z"),

        // Gifts: the celebrant may not see or touch who gives what on their own wishlist.
        ["POST /api/workspaces/{workspaceId}/wishlists/"] = new("401 401 404 201 201 201 201", Body: _ => """{"title":"Wedding"}"""),
        ["GET /api/workspaces/{workspaceId}/wishlists/"] = new("401 401 404 200 200 200 200"),
        ["GET /api/wishlists/{wishlistId}/"] = new("401 401 404 200 200 200 200"),
        ["POST /api/wishlists/{wishlistId}/items"] = new("401 401 404 403 403 403 200", Body: _ => """{"title":"Lamp","price":40.00}"""),
        ["POST /api/wishlist-items/{itemId}/claim"] = new("401 401 404 200 200 200 403"),
        ["DELETE /api/wishlist-items/{itemId}/claim"] = new("401 401 404 422 422 422 403"),
        ["POST /api/wishlist-items/{itemId}/split"] = new("401 401 404 422 422 422 403", Body: _ => """{"additional_costs":10.00}"""),
        ["GET /api/wishlist-items/{itemId}/split"] = new("401 401 404 422 422 422 403"),
        ["POST /api/wishlist-items/{itemId}/split/close"] = new("401 401 404 422 422 422 403"),
        ["GET /api/wishlist-items/{itemId}/split/suggested-share"] = new("401 401 404 422 422 422 403"),
        ["POST /api/wishlist-items/{itemId}/pledges"] = new("401 401 404 422 422 422 403", Body: _ => """{"amount":10.00}"""),
        ["GET /api/notifications/"] = new("401 401 200 200 200 200 200"),
        ["POST /api/notifications/{notificationId}/read"] = new("401 401 404 404 404 404 404"),
        ["POST /api/notifications/read-all"] = new("401 401 200 200 200 200 200"),
        ["GET /api/notifications/stream"] = new("401 401 200 200 200 200 200"),
    });

    [Fact]
    public void Matrix_WhenRoutesAreMapped_HasExactlyOneRowPerRoute()
    {
        var routes = RouteWorld.Endpoints(server.Factory.Services).Select(RouteWorld.Key).ToList();
        Assert.Equal(routes.Count, routes.Distinct().Count());
        var missing = routes.Except(Matrix.Keys).ToList();
        var stale = Matrix.Keys.Except(routes).ToList();
        Assert.True(missing.Count == 0, "routes without a row in the authorization matrix:\n" + string.Join("\n", missing));
        Assert.True(stale.Count == 0, "rows for routes that no longer exist:\n" + string.Join("\n", stale));
    }

    [Fact]
    public async Task EveryRoute_WhenCalledByEachKindOfCaller_AnswersTheExpectedStatus()
    {
        var routes = RouteWorld.Endpoints(server.Factory.Services).Select(RouteWorld.Key).Where(Matrix.ContainsKey).ToList();
        var cells = routes.SelectMany(route => Callers.Select((caller, i) => (Route: route, Caller: caller, Expected: Matrix[route].Expected(i)))).ToList();
        var actual = new int[cells.Count];
        var next = -1;
        using var client = server.Client();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < cells.Count)
            {
                var world = await RouteWorld.CreateAsync(server);
                actual[i] = await SendAsync(client, world, cells[i].Route, cells[i].Caller);
            }
        }));

        var wrong = cells.Select((c, i) => (c, Actual: actual[i])).Where(x => x.Actual != x.c.Expected)
            .Select(x => $"{x.c.Route} as {x.c.Caller}: expected {x.c.Expected}, got {x.Actual}").ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{routes.Count} routes × {Callers.Length} callers: {cells.Count} cells, each on a fresh world; {wrong.Count} wrong"));
        Assert.True(wrong.Count == 0, "authorization matrix mismatches:\n" + string.Join("\n", wrong));
    }

    private async Task<int> SendAsync(HttpClient client, RouteWorld world, string route, string caller)
    {
        var row = Matrix[route];
        var method = route[..route.IndexOf(' ', StringComparison.Ordinal)];
        var path = row.Path ?? System.Text.RegularExpressions.Regex.Replace(route[(method.Length + 1)..], @"\{([^}:?]+)[^}]*\}",
            m => (world.IdFor(m.Groups[1].Value) ?? Guid.NewGuid()).ToString());
        if (row.Query is not null)
        {
            path += "?" + row.Query(world);
        }
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        var user = caller switch
        {
            "other workspace" => world.Outsider,
            "member" => world.Member,
            "admin" => world.Admin,
            "owner" => world.Owner,
            "celebrant" => world.Celebrant,
            _ => world.Owner,
        };
        if (caller == "bad token")
        {
            var other = new Hs256Jwt(Encoding.UTF8.GetBytes("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), "authenticated");
            request.Headers.Authorization = new("Bearer", other.Mint(user, TimeSpan.FromHours(1)));
        }
        else if (caller != "no token")
        {
            request.Headers.Authorization = new("Bearer", server.Jwt.Mint(user, TimeSpan.FromHours(1)));
        }
        if (row.Body is not null)
        {
            request.Content = new StringContent(row.Body(world), Encoding.UTF8, "application/json");
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        return (int)response.StatusCode;
    }

    private sealed record Row(string Statuses, string? Path = null, Func<RouteWorld, string>? Body = null, Func<RouteWorld, string>? Query = null)
    {
        public int Expected(int caller) => int.Parse(Statuses.Split(' ')[caller], CultureInfo.InvariantCulture);
    }
}
