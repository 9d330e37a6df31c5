using System.Net;
using System.Text;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// The workspace-scoped twins of the routes named by an id alone (/api/workspaces/{workspaceId}/purchases/{purchaseId}/use
/// beside /api/purchases/{purchaseId}/use). The authorization and POST-status matrices hold every twin to its
/// original's statuses; here: every such route has its twin, a twin reads what its original reads, and a twin
/// naming another workspace of the caller answers 404 and changes nothing.
/// </summary>
public sealed class WorkspaceRouteTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    // The caller's own inbox spans their workspaces (gifts notifications): it has no workspace to name.
    private static readonly string[] WithoutWorkspaceByDesign = ["/api/notifications/", "/api/webhooks/"];

    private static readonly Dictionary<string, string> Bodies = new(StringComparer.Ordinal)
    {
        ["POST /api/workspaces/{workspaceId}/clients/{clientId}/purchases"] = """{"sessions_total":5}""",
        ["POST /api/workspaces/{workspaceId}/clients/{clientId}/bookings"] = """{"starts_at":"2030-01-02T10:00:00Z","ends_at":"2030-01-02T11:00:00Z"}""",
        ["POST /api/workspaces/{workspaceId}/bookings/{bookingId}/cancel"] = """{"reinstate":true}""",
        ["POST /api/workspaces/{workspaceId}/wishlists/{wishlistId}/items"] = """{"title":"Lamp","price":40.00}""",
        ["POST /api/workspaces/{workspaceId}/wishlist-items/{itemId}/split"] = """{"additional_costs":1.00}""",
        ["POST /api/workspaces/{workspaceId}/wishlist-items/{itemId}/pledges"] = """{"amount":1.00}""",
    };

    private List<string> Routes() => RouteWorld.Endpoints(server.Factory.Services).Select(RouteWorld.Key).ToList();

    private List<(string IdOnly, string Twin)> Twins() =>
        Routes().Where(r => RouteWorld.WorkspaceTwin(r) is not null).Select(r => (r, RouteWorld.WorkspaceTwin(r)!)).ToList();

    [Fact]
    public void RoutesNamedByAnIdAlone_EachHaveAWorkspaceTwin()
    {
        var routes = Routes();
        var idAlone = routes.Where(r => r.Contains(" /api/", StringComparison.Ordinal) && !r.Contains(" /api/workspaces/", StringComparison.Ordinal)
                && r.Contains("Id}", StringComparison.Ordinal) && !WithoutWorkspaceByDesign.Any(p => r.Contains(" " + p, StringComparison.Ordinal)))
            .ToList();
        Assert.True(idAlone.Count >= 19, $"only {idAlone.Count} routes named by an id alone");

        var missing = idAlone.Where(r => RouteWorld.WorkspaceTwin(r) is not { } twin || !routes.Contains(twin)).ToList();
        Assert.True(missing.Count == 0, "routes named by an id alone without a workspace-scoped twin:\n" + string.Join("\n", missing));
    }

    [Fact]
    public async Task GetTwins_WhenCalledOnOneWorld_AnswerTheSameStatusAndBody()
    {
        var world = await RouteWorld.CreateAsync(server);
        using var claimed = await server.Client(world.Member).PostAsync($"/api/wishlist-items/{world.Item}/claim", null);
        using var split = await server.Client(world.Member).PostAsync($"/api/wishlist-items/{world.Item}/split", null);
        Assert.Equal(HttpStatusCode.Created, split.StatusCode);
        using var http = server.Client(world.Admin);

        var pairs = Twins().Where(t => t.IdOnly.StartsWith("GET ", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, pairs.Count);
        foreach (var (idOnly, twin) in pairs)
        {
            using var original = await http.GetAsync(Path(idOnly, world, world.Workspace));
            using var routed = await http.GetAsync(Path(twin, world, world.Workspace));
            var body = await original.Content.ReadAsStringAsync();
            Assert.True(original.StatusCode == HttpStatusCode.OK, $"{idOnly}: {(int)original.StatusCode} {body}");
            Assert.Equal((original.StatusCode, body), (routed.StatusCode, await routed.Content.ReadAsStringAsync()));
        }
    }

    [Fact]
    public async Task Twins_WhenTheyNameAnotherWorkspaceOfTheCaller_Answer404AndChangeNothing()
    {
        // The owner is also a member of the outsider's workspace: naming it with this world's ids finds nothing.
        var world = await RouteWorld.CreateAsync(server);
        using var joined = await server.Client(world.Outsider).PostAsync($"/api/workspaces/{world.OtherWorkspace}/members",
            Http.Json($$"""{"user_id":"{{world.Owner}}","role":"member","display_name":"Visitor"}"""));
        Assert.Equal(HttpStatusCode.OK, joined.StatusCode);
        var before = await RouteWorld.SnapshotAsync(server);
        using var http = server.Client(world.Owner);

        var wrong = new List<string>();
        foreach (var (_, twin) in Twins())
        {
            var method = twin[..twin.IndexOf(' ', StringComparison.Ordinal)];
            using var request = new HttpRequestMessage(new HttpMethod(method), Path(twin, world, world.OtherWorkspace));
            if (Bodies.TryGetValue(twin, out var body))
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }
            using var response = await http.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.NotFound)
            {
                wrong.Add($"{twin}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        Assert.True(wrong.Count == 0, "twins that did not answer 404 for another workspace:\n" + string.Join("\n", wrong));
        Assert.Equal(before, await RouteWorld.SnapshotAsync(server));
    }

    [Fact]
    public async Task OpenApi_ListsEveryTwin()
    {
        var document = await server.Client().GetStringAsync("/openapi/v1.json");

        var missing = Twins().Select(t => t.Twin[(t.Twin.IndexOf(' ', StringComparison.Ordinal) + 1)..]).Distinct()
            .Where(path => !document.Contains($"\"{path}\"", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "twins the OpenAPI document does not list:\n" + string.Join("\n", missing));
    }

    private static string Path(string route, RouteWorld world, Guid workspace) =>
        System.Text.RegularExpressions.Regex.Replace(route[(route.IndexOf(' ', StringComparison.Ordinal) + 1)..], @"\{([^}:?]+)[^}]*\}",
            m => (m.Groups[1].Value == "workspaceId" ? workspace : world.IdFor(m.Groups[1].Value)!.Value).ToString());
}
