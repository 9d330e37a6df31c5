using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Workspaces;

public sealed class WorkspaceMembersTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private async Task<Guid> CreateWorkspaceAsync(Guid owner)
    {
        var response = await server.Client(owner).PostAsJsonAsync("/api/workspaces", new { name = "Studio" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("workspace_id").GetGuid();
    }

    [Fact]
    public async Task CreateWorkspace_WhenSignedIn_MakesCallerTheOwner()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var list = await server.Client(owner).GetFromJsonAsync<JsonElement>("/api/workspaces");
        var mine = Assert.Single(list.EnumerateArray());
        Assert.Equal(workspace, mine.GetProperty("workspace_id").GetGuid());
        Assert.Equal("owner", mine.GetProperty("role").GetString());
    }

    [Fact]
    public async Task AddMember_WhenCallerIsPlainMember_Returns403AndAddsNobody()
    {
        var owner = Guid.NewGuid();
        var member = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = member });

        var response = await server.Client(member).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = Guid.NewGuid() });

        await Http.AssertProblemAsync(response, HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(2L, await server.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task ListMembers_WhenCallerIsNotAMember_Returns404()
    {
        var workspace = await CreateWorkspaceAsync(Guid.NewGuid());

        var response = await server.Client(Guid.NewGuid()).GetAsync($"/api/workspaces/{workspace}/members");

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "workspace_not_found");
    }

    [Fact]
    public async Task AddMember_WhenAlreadyMember_Returns409()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var response = await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = owner });

        await Http.AssertProblemAsync(response, HttpStatusCode.Conflict, "already_member");
    }

    [Fact]
    public async Task SetMemberRole_WhenDemotingTheLastOwner_Returns422AndKeepsTheOwner()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var response = await server.Client(owner).PatchAsJsonAsync($"/api/workspaces/{workspace}/members/{owner}", new { role = "member" });

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "last_owner");
        Assert.Equal("owner", await server.ScalarAsync<string>("select role from platform.members where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task RemoveMember_WhenMemberLeaves_Returns204()
    {
        var owner = Guid.NewGuid();
        var member = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = member, display_name = "Ann" });

        var response = await server.Client(member).DeleteAsync($"/api/workspaces/{workspace}/members/{member}");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task AddMember_WhenAdminAddsAnOwner_Returns403()
    {
        var owner = Guid.NewGuid();
        var admin = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = admin, role = "admin" });

        var response = await server.Client(admin).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = Guid.NewGuid(), role = "owner" });

        await Http.AssertProblemAsync(response, HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task AddMember_WhenRoleIsUnknown_Returns422()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var response = await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = Guid.NewGuid(), role = "king" });

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_role");
    }

    // The last-owner backstop is a deferred trigger: it runs at commit, as the serving role, not inside
    // the security definer function that changed the row.
    [Fact]
    public async Task RemoveMember_WhenOneOfTwoOwnersIsRemovedOverApiAndRpc_SucceedsAsTheServingRole()
    {
        var (owner, workspace, api, rpc) = await TwoExtraOwnersAsync();

        var viaApi = await server.Client(owner).DeleteAsync($"/api/workspaces/{workspace}/members/{api}");
        var viaRpc = await server.Client(owner).PostAsJsonAsync("/rest/v1/rpc/remove_member", new { p_workspace_id = workspace, p_user_id = rpc });

        Assert.Equal(HttpStatusCode.NoContent, viaApi.StatusCode);
        Assert.Equal(HttpStatusCode.OK, viaRpc.StatusCode);
        Assert.True((await viaRpc.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("success").GetBoolean());
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task SetMemberRole_WhenOneOfTwoOwnersIsDemotedOverApiAndRpc_SucceedsAsTheServingRole()
    {
        var (owner, workspace, api, rpc) = await TwoExtraOwnersAsync();

        var viaApi = await server.Client(owner).PatchAsJsonAsync($"/api/workspaces/{workspace}/members/{api}", new { role = "member" });
        var viaRpc = await server.Client(owner).PostAsJsonAsync("/rest/v1/rpc/set_member_role", new { p_workspace_id = workspace, p_user_id = rpc, p_role = "admin" });

        Assert.Equal(HttpStatusCode.OK, viaApi.StatusCode);
        Assert.Equal(HttpStatusCode.OK, viaRpc.StatusCode);
        Assert.True((await viaRpc.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("success").GetBoolean());
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1 and role = 'owner'", workspace));
    }

    private async Task<(Guid Owner, Guid Workspace, Guid First, Guid Second)> TwoExtraOwnersAsync()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());
        foreach (var user in new[] { first, second })
        {
            var added = await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = user, role = "owner" });
            Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        }
        return (owner, workspace, first, second);
    }
}
