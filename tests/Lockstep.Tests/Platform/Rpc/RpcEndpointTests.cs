using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>A server whose exposed schema also holds functions of each return kind the migrations lack.</summary>
public sealed class RpcServerFixture : ServerFixture
{
    protected override async Task BeforeServerStartsAsync()
    {
        await using var command = DataSource.CreateCommand("""
            create function public.test_nothing(p_note text) returns void
            language plpgsql as $$ begin perform p_note; end $$;

            create function public.test_add(p_a integer, p_b integer default 1) returns integer
            language sql immutable as $$ select p_a + p_b $$;

            create function public.test_greeting() returns text
            language sql immutable as $$ select 'say "hi"' $$;

            create function public.test_count_to(p_count integer) returns setof integer
            language sql immutable as $$ select generate_series(1, p_count) $$;

            create function public.test_labels(p_count integer) returns table (n integer, label text)
            language sql immutable as $$ select g, 'item ' || g from generate_series(1, p_count) g $$;

            create function public.test_refuse(p_reason text) returns jsonb
            language plpgsql as $$
            begin
              raise exception '%', p_reason using detail = 'refused on purpose', hint = 'do not call it';
            end $$;

            grant execute on function public.test_nothing(text), public.test_add(integer, integer), public.test_greeting(),
              public.test_count_to(integer), public.test_labels(integer), public.test_refuse(text) to lockstep_api;
            """);
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class RpcEndpointTests(RpcServerFixture server) : IClassFixture<RpcServerFixture>
{
    private static StringContent Args(string json) => Http.Json(json);

    private static async Task<JsonElement> AssertPostgrestErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(["code", "details", "hint", "message"], body.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(code, body.GetProperty("code").GetString());
        return body;
    }

    private async Task<Guid> CreateWorkspaceAsync(Guid owner)
    {
        var response = await server.Client(owner).PostAsync("/rest/v1/rpc/create_workspace", Args("""{"p_name":"Studio"}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("workspace_id").GetGuid();
    }

    [Fact]
    public async Task CreateWorkspace_WhenCalledWithSupabaseHeaders_Returns200WithTheFunctionsJson()
    {
        var owner = Guid.NewGuid();
        var client = server.Client(owner);
        client.DefaultRequestHeaders.Add("apikey", server.Jwt.Mint(owner, TimeSpan.FromHours(1)));
        client.DefaultRequestHeaders.Add("Content-Profile", "public");
        client.DefaultRequestHeaders.Add("Prefer", "return=representation");

        var response = await client.PostAsync("/rest/v1/rpc/create_workspace", Args("""{"p_name":"Studio"}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(body.GetProperty("success").GetBoolean());
        var workspace = body.GetProperty("workspace_id").GetGuid();
        Assert.Equal(1L, await server.ScalarAsync<long>(
            "select count(*) from platform.workspaces where id = $1 and name = 'Studio' and created_by = $2", workspace, owner));
    }

    [Fact]
    public async Task AddMember_WhenOptionalArgumentsAreLeftOut_UsesTheFunctionsDefaults()
    {
        var owner = Guid.NewGuid();
        var member = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var response = await server.Client(owner).PostAsync("/rest/v1/rpc/add_member",
            Args($$"""{"p_workspace_id":"{{workspace}}","p_user_id":"{{member}}"}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("member", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("role").GetString());
        Assert.Equal("member", await server.ScalarAsync<string>(
            "select role from platform.members where workspace_id = $1 and user_id = $2 and display_name is null", workspace, member));
    }

    [Fact]
    public async Task Call_WhenFunctionDoesNotExist_Returns404WithPostgrestsExactPgrst202()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/no_such_function", Args("{}"));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.NotFound, "PGRST202");
        Assert.Equal("Could not find the function public.no_such_function without parameters in the schema cache", body.GetProperty("message").GetString());
        Assert.Equal(
            "Searched for the function public.no_such_function without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
            body.GetProperty("details").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("hint").ValueKind);
    }

    [Fact]
    public async Task Call_WhenFunctionDoesNotExistAndArgumentsAreGiven_NamesTheArgumentsInPgrst202()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/no_such_function", Args("""{"p_name":"x"}"""));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.NotFound, "PGRST202");
        Assert.Equal("Could not find the function public.no_such_function(p_name) in the schema cache", body.GetProperty("message").GetString());
        Assert.Equal(
            "Searched for the function public.no_such_function with parameter p_name or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
            body.GetProperty("details").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("hint").ValueKind);
    }

    [Fact]
    public async Task CreateWorkspace_WhenAnArgumentIsUnknown_Returns404Pgrst202AndCreatesNothing()
    {
        var owner = Guid.NewGuid();

        var response = await server.Client(owner).PostAsync("/rest/v1/rpc/create_workspace", Args("""{"p_name":"Studio","p_colour":"red"}"""));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.NotFound, "PGRST202");
        Assert.Equal("Could not find the function public.create_workspace(p_colour, p_name) in the schema cache", body.GetProperty("message").GetString());
        Assert.Equal(
            "Searched for the function public.create_workspace with parameters p_colour, p_name or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
            body.GetProperty("details").GetString());
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from platform.workspaces where created_by = $1", owner));
    }

    [Fact]
    public async Task AddMember_WhenARequiredArgumentIsMissing_Returns404Pgrst202()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var response = await server.Client(owner).PostAsync("/rest/v1/rpc/add_member", Args($$"""{"p_workspace_id":"{{workspace}}"}"""));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.NotFound, "PGRST202");
        Assert.Equal("Could not find the function public.add_member(p_workspace_id) in the schema cache", body.GetProperty("message").GetString());
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task Call_WhenFunctionReturnsVoid_Returns204WithNoBody()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/test_nothing", Args("""{"p_note":"hello"}"""));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Call_WhenFunctionReturnsAnInteger_ReturnsTheBareJsonNumber()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/test_add", Args("""{"p_a":41}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("42", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Call_WhenFunctionReturnsText_ReturnsAJsonString()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/test_greeting", Args("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("say \"hi\"", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetString());
    }

    [Fact]
    public async Task Call_WhenFunctionReturnsSetOfScalars_ReturnsAJsonArrayOfThem()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/test_count_to", Args("""{"p_count":3}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal([1, 2, 3], body.EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public async Task Call_WhenFunctionReturnsATable_ReturnsAJsonArrayOfRowObjects()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/test_labels", Args("""{"p_count":2}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var rows = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(2, rows[1].GetProperty("n").GetInt32());
        Assert.Equal("item 2", rows[1].GetProperty("label").GetString());
    }

    [Fact]
    public async Task Call_WhenFunctionRaisesAnException_Returns400WithP0001InPostgrestsShape()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/test_refuse", Args("""{"p_reason":"not today"}"""));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.BadRequest, "P0001");
        Assert.Equal("not today", body.GetProperty("message").GetString());
        Assert.Equal("refused on purpose", body.GetProperty("details").GetString());
        Assert.Equal("do not call it", body.GetProperty("hint").GetString());
    }

    [Fact]
    public async Task AddMember_WhenAUuidIsMalformed_Returns400With22P02()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/add_member",
            Args("""{"p_workspace_id":"not-a-uuid","p_user_id":"also-not"}"""));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.BadRequest, "22P02");
        Assert.Contains("uuid", body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateWorkspace_WhenContentProfileIsNotExposed_Returns406Pgrst106AndCreatesNothing()
    {
        var owner = Guid.NewGuid();
        var client = server.Client(owner);
        client.DefaultRequestHeaders.Add("Content-Profile", "platform");

        var response = await client.PostAsync("/rest/v1/rpc/create_workspace", Args("""{"p_name":"Studio"}"""));

        await AssertPostgrestErrorAsync(response, HttpStatusCode.NotAcceptable, "PGRST106");
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from platform.workspaces where created_by = $1", owner));
    }

    [Theory]
    [InlineData("""{"p_name":""")]
    [InlineData("""["Studio"]""")]
    public async Task CreateWorkspace_WhenBodyIsNotAJsonObject_Returns400Pgrst102(string raw)
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/create_workspace", Args(raw));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.BadRequest, "PGRST102");
        Assert.Equal("Empty or invalid json", body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task CreateWorkspace_WhenTheBodyIsOverTheLimit_Returns413BodyTooLargeAndCreatesNothing()
    {
        var owner = Guid.NewGuid();
        var padding = new string('x', (int)Lockstep.Platform.PlatformModule.DefaultMaxRequestBodyBytes);

        var response = await server.Client(owner).PostAsync("/rest/v1/rpc/create_workspace", Args($$"""{"p_name":"{{padding}}"}"""));

        await AssertPostgrestErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from platform.workspaces where created_by = $1", owner));
    }

    [Fact]
    public async Task CreateWorkspace_WhenBearerTokenIsSignedWithAnotherSecret_Returns401Pgrst301AndRunsNothing()
    {
        var user = Guid.NewGuid();
        var forged = new Hs256Jwt(System.Text.Encoding.UTF8.GetBytes("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), "authenticated")
            .Mint(user, TimeSpan.FromHours(1));
        var client = server.Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", forged);
        client.DefaultRequestHeaders.Add("apikey", forged);

        var response = await client.PostAsync("/rest/v1/rpc/create_workspace", Args("""{"p_name":"Studio"}"""));

        await AssertPostgrestErrorAsync(response, HttpStatusCode.Unauthorized, "PGRST301");
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from platform.workspaces where created_by = $1", user));
    }

    /// <summary>PostgREST's answer when its anonymous role may not execute the function; test_refuse would answer 400 had it run.</summary>
    [Theory]
    [InlineData("POST", "/rest/v1/rpc/create_workspace", """{"p_name":"Studio"}""", "create_workspace")]
    [InlineData("POST", "/rest/v1/rpc/test_refuse", """{"p_reason":"ran anyway"}""", "test_refuse")]
    [InlineData("GET", "/rest/v1/rpc/list_workspaces", null, "list_workspaces")]
    [InlineData("GET", "/rest/v1/rpc/test_add?p_a=1", null, "test_add")]
    public async Task Call_WhenThereIsNoToken_Returns401With42501AndRunsNothing(string method, string path, string? args, string function)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = args is null ? null : Args(args) };

        var response = await server.Client().SendAsync(request);

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.Unauthorized, "42501");
        Assert.Equal($"permission denied for function {function}", body.GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("details").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("hint").ValueKind);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Call_WhenTheTokenNamesNoUser_Returns401With42501()
    {
        // A role-only token such as an anon key: valid, but no sub, so auth.uid() is null.
        var exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        var anon = server.Jwt.Sign("""{"alg":"HS256","typ":"JWT"}"""u8.ToArray(),
            System.Text.Encoding.UTF8.GetBytes($$"""{"role":"anon","aud":"authenticated","exp":{{exp}}}"""));
        var client = server.Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", anon);

        var response = await client.PostAsync("/rest/v1/rpc/list_workspaces", Args("{}"));

        var body = await AssertPostgrestErrorAsync(response, HttpStatusCode.Unauthorized, "42501");
        Assert.Equal("permission denied for function list_workspaces", body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task ListWorkspaces_WhenCalledWithGet_ReturnsTheCallersWorkspaces()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var response = await server.Client(owner).GetAsync("/rest/v1/rpc/list_workspaces");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var mine = Assert.Single(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray());
        Assert.Equal(workspace, mine.GetProperty("workspace_id").GetGuid());
    }

    [Fact]
    public async Task Call_WhenStableFunctionGetsQueryArguments_TypesThemLikeJson()
    {
        var response = await server.Client(Guid.NewGuid()).GetAsync("/rest/v1/rpc/test_add?p_a=2&p_b=3");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("5", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CreateWorkspace_WhenCalledWithGet_Returns405AndCreatesNothing()
    {
        var owner = Guid.NewGuid();

        var response = await server.Client(owner).GetAsync("/rest/v1/rpc/create_workspace?p_name=Studio");

        await AssertPostgrestErrorAsync(response, HttpStatusCode.MethodNotAllowed, "25006");
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from platform.workspaces where created_by = $1", owner));
    }
}
