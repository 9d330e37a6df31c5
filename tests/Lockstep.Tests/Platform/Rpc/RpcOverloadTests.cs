using System.Net;
using System.Text.Json;
using Lockstep.Platform.Rpc;
using Lockstep.Tests.Crm;
using Lockstep.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>
/// /rest/v1/rpc over the functions that have an id-only form and a p_workspace_id form: each argument set
/// chooses exactly one, never PostgREST's PGRST203.
/// </summary>
public sealed class RpcOverloadTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task EveryOverload_WhenCalledWithItsArguments_IsTheOnlyCandidate()
    {
        // Resolution comes before the caller is checked, so an unsigned call shows the choice and runs nothing:
        // 401 once one function was chosen, 300 PGRST203 when two were.
        var catalog = server.Factory.Services.GetRequiredService<FunctionCatalog>();
        var overloaded = catalog.Names().Where(n => catalog.Overloads(n).Count > 1).Order(StringComparer.Ordinal).ToList();
        Assert.True(overloaded.Count >= 20, $"only {overloaded.Count} overloaded functions: {string.Join(", ", overloaded)}");
        Assert.Contains("set_primary_contact", overloaded);

        using var http = server.Client();
        var ambiguous = new List<string>();
        foreach (var function in overloaded.SelectMany(catalog.Overloads))
        {
            foreach (var args in new[] { function.ArgNames, function.RequiredArgs.ToList() }.DistinctBy(a => string.Join(",", a)))
            {
                using var response = await http.GetAsync($"/rest/v1/rpc/{function.Name}?{string.Join("&", args.Select(a => $"{a}=x"))}");
                if (response.StatusCode != HttpStatusCode.Unauthorized)
                {
                    ambiguous.Add($"{function.Name}({string.Join(", ", args)}): {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
            }
        }
        Assert.True(ambiguous.Count == 0, "argument sets that do not choose one function:\n" + string.Join("\n", ambiguous));
    }

    [Fact]
    public async Task SetPrimaryContact_WithTwoOrThreeArguments_RunsTheFormNamedByThem()
    {
        var user = Guid.NewGuid();
        var workspace = await server.WorkspaceAsync(user);
        var other = await server.WorkspaceAsync(user);
        var client = await server.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");
        var bob = await server.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '+15550100198')", workspace, client.Id("client_id"));
        var ann = client.Id("contact_id");
        using var http = server.Client(user);

        var three = await RpcAsync(http, "set_primary_contact", new { p_workspace_id = workspace, p_client_id = client.Id("client_id"), p_contact_id = bob.Id("contact_id") });
        Assert.True(three.GetProperty("success").GetBoolean(), three.ToString());
        Assert.Equal(bob.Id("contact_id"), await PrimaryAsync(workspace, client.Id("client_id")));

        var two = await RpcAsync(http, "set_primary_contact", new { p_client_id = client.Id("client_id"), p_contact_id = ann });
        Assert.True(two.GetProperty("success").GetBoolean(), two.ToString());
        Assert.Equal(ann, await PrimaryAsync(workspace, client.Id("client_id")));

        var elsewhere = await RpcAsync(http, "set_primary_contact", new { p_workspace_id = other, p_client_id = client.Id("client_id"), p_contact_id = bob.Id("contact_id") });
        Assert.Equal("client_not_found", elsewhere.GetProperty("code").GetString());
        Assert.Equal(ann, await PrimaryAsync(workspace, client.Id("client_id")));
    }

    [Fact]
    public async Task UseSession_WithOrWithoutTheWorkspace_UsesTheSamePack()
    {
        var (owner, workspace, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 2);
        using var http = server.Client(owner);

        Assert.True((await RpcAsync(http, "use_session", new { p_workspace_id = workspace, p_purchase_id = pack })).GetBoolean());
        Assert.True((await RpcAsync(http, "use_session", new { p_purchase_id = pack })).GetBoolean());
        Assert.False((await RpcAsync(http, "use_session", new { p_workspace_id = workspace, p_purchase_id = pack })).GetBoolean());
        Assert.Equal(1, (await RpcAsync(http, "release_session", new { p_workspace_id = workspace, p_purchase_id = pack })).GetInt32());
        Assert.Equal(1, await UsedAsync(server, pack));
    }

    private static async Task<JsonElement> RpcAsync(HttpClient http, string function, object args)
    {
        using var response = await http.PostAsync($"/rest/v1/rpc/{function}", Http.Json(JsonSerializer.Serialize(args)));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{function}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private Task<Guid> PrimaryAsync(Guid workspace, Guid client) =>
        server.ScalarAsync<Guid>("select id from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client);
}
