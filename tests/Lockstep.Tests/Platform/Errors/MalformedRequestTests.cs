using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Platform;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Errors;

/// <summary>A caller's malformed request is a 4xx problem naming what is wrong, and changes nothing.</summary>
public sealed class MalformedRequestTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>A body endpoint: its method, the field it requires, a valid value and a value of the wrong type.</summary>
    private sealed record Route(HttpMethod Method, string Field, string Valid, string WrongType);

    private static readonly Dictionary<string, Route> Routes = new()
    {
        ["CreateWorkspace"] = new(HttpMethod.Post, "name", "\"Studio\"", "5"),
        ["AddMember"] = new(HttpMethod.Post, "user_id", $"\"{Guid.NewGuid()}\"", "\"not-a-uuid\""),
        ["SetMemberRole"] = new(HttpMethod.Patch, "role", "\"admin\"", "true"),
    };

    public static TheoryData<string, string, int, string, bool> Cases()
    {
        var data = new TheoryData<string, string, int, string, bool>();
        foreach (var route in Routes.Keys)
        {
            data.Add(route, "invalid_json", 400, "invalid_json", false);
            data.Add(route, "bad_literal", 400, "invalid_json", false);
            data.Add(route, "trailing_text", 400, "invalid_json", false);
            data.Add(route, "array", 400, "invalid_body", false);
            data.Add(route, "json_null", 400, "invalid_body", false);
            data.Add(route, "wrong_type", 400, "invalid_field", true);
            data.Add(route, "null", 400, "field_required", true);
            data.Add(route, "missing", 400, "field_required", true);
            data.Add(route, "unknown_field", 400, "unknown_field", true);
            data.Add(route, "text_plain", 415, "unsupported_media_type", false);
            data.Add(route, "empty", 400, "invalid_body", false);
            data.Add(route, "oversized", 413, "body_too_large", false);
        }
        return data;
    }

    private static HttpContent Body(Route route, string bodyCase) => bodyCase switch
    {
        "invalid_json" => Http.Json($"{{\"{route.Field}\": {route.Valid},"),
        "bad_literal" => Http.Json($"{{\"{route.Field}\": tru}}"),
        "trailing_text" => Http.Json($"{{\"{route.Field}\": {route.Valid}}} x"),
        "array" => Http.Json($"[{{\"{route.Field}\": {route.Valid}}}]"),
        "json_null" => Http.Json("null"),
        "wrong_type" => Http.Json($"{{\"{route.Field}\": {route.WrongType}}}"),
        "null" => Http.Json($"{{\"{route.Field}\": null}}"),
        "missing" => Http.Json("{}"),
        "unknown_field" => Http.Json($"{{\"{route.Field}\": {route.Valid}, \"colour\": \"red\"}}"),
        "text_plain" => Http.Json($"{{\"{route.Field}\": {route.Valid}}}", "text/plain"),
        "empty" => Http.Json(""),
        "oversized" => Http.Json($"{{\"{route.Field}\": {route.Valid}, \"padding\": \"{new string('x', (int)PlatformModule.DefaultMaxRequestBodyBytes)}\"}}"),
        _ => throw new ArgumentOutOfRangeException(nameof(bodyCase)),
    };

    /// <summary>A workspace with an owner and one plain member, and a snapshot of its rows.</summary>
    private async Task<(Guid Owner, Guid Workspace, Guid Member)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        var member = Guid.NewGuid();
        var created = await server.Client(owner).PostAsJsonAsync("/api/workspaces", new { name = "Studio" });
        var workspace = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid();
        var added = await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = member });
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        return (owner, workspace, member);
    }

    private Task<string> RowsAsync(Guid owner) => server.ScalarAsync<string>("""
        select coalesce(string_agg(w.id || ':' || w.name || ':' || m.user_id || ':' || m.role || ':' || coalesce(m.display_name, ''),
                                   ',' order by w.id, m.user_id), '')
        from platform.workspaces w join platform.members m on m.workspace_id = w.id
        where w.created_by = $1
        """, owner);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Endpoint_WhenBodyIsMalformed_ReturnsProblemAndChangesNothing(
        string routeName, string bodyCase, int status, string code, bool namesField)
    {
        var route = Routes[routeName];
        var (owner, workspace, member) = await WorkspaceAsync();
        var before = await RowsAsync(owner);
        var path = routeName switch
        {
            "CreateWorkspace" => "/api/workspaces",
            "AddMember" => $"/api/workspaces/{workspace}/members",
            _ => $"/api/workspaces/{workspace}/members/{member}",
        };

        var response = await server.Client(owner).SendAsync(new HttpRequestMessage(route.Method, path) { Content = Body(route, bodyCase) });

        var problem = await Http.AssertProblemAsync(response, (HttpStatusCode)status, code);
        if (namesField)
        {
            Assert.Equal(bodyCase == "unknown_field" ? "colour" : route.Field, problem.GetProperty("field").GetString());
        }
        Assert.Equal(before, await RowsAsync(owner));
    }

    [Theory]
    [InlineData("POST", "/api/workspaces/abc/members", "workspaceId")]
    [InlineData("GET", "/api/workspaces/abc/members", "workspaceId")]
    [InlineData("PATCH", "/api/workspaces/{workspace}/members/abc", "userId")]
    [InlineData("DELETE", "/api/workspaces/{workspace}/members/abc", "userId")]
    public async Task Endpoint_WhenPathSegmentIsNotAUuid_Returns400NamingTheParameter(string method, string path, string parameter)
    {
        var (owner, workspace, _) = await WorkspaceAsync();
        var before = await RowsAsync(owner);
        using var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{workspace}", workspace.ToString(), StringComparison.Ordinal));
        request.Content = method switch
        {
            "POST" => Http.Json($"{{\"user_id\": \"{Guid.NewGuid()}\"}}"),
            "PATCH" => Http.Json("{\"role\": \"admin\"}"),
            _ => null,
        };

        var response = await server.Client(owner).SendAsync(request);

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_parameter");
        Assert.Equal(parameter, problem.GetProperty("field").GetString());
        Assert.Equal(before, await RowsAsync(owner));
    }

    [Fact]
    public async Task UnknownRoute_WhenRequested_Returns404NotFound()
    {
        var response = await server.Client(Guid.NewGuid()).GetAsync("/api/no-such-thing");

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Workspaces_WhenMethodIsNotAllowed_Returns405()
    {
        var response = await server.Client(Guid.NewGuid()).PutAsJsonAsync("/api/workspaces", new { name = "Studio" });

        await Http.AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
    }
}
