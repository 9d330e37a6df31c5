using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Platform.Workspaces;

public static class WorkspaceEndpoints
{
    public static IEndpointRouteBuilder MapWorkspaces(this IEndpointRouteBuilder app)
    {
        var workspaces = app.MapGroup("/api/workspaces").WithTags("Workspaces").RequireAuthorization();

        workspaces.MapPost("/", CreateWorkspace).WithName("CreateWorkspace")
            .WithSummary("Create a workspace; the caller becomes its owner (create_workspace)");
        workspaces.MapGet("/", ListWorkspaces).WithName("ListWorkspaces")
            .WithSummary("The caller's workspaces with the caller's role (list_workspaces)");
        workspaces.MapGet("/{workspaceId}/members", ListMembers).WithName("ListMembers")
            .WithSummary("Members of a workspace, newest first; ?limit=, ?before=; members only (list_members)");
        workspaces.MapPost("/{workspaceId}/members", AddMember).WithName("AddMember")
            .WithSummary("Add a member; owners and admins (add_member)");
        workspaces.MapPatch("/{workspaceId}/members/{userId}", SetMemberRole).WithName("SetMemberRole")
            .WithSummary("Change a member's role; a workspace keeps at least one owner (set_member_role)");
        workspaces.MapDelete("/{workspaceId}/members/{userId}", RemoveMember).WithName("RemoveMember")
            .WithSummary("Remove a member, or leave; a workspace keeps at least one owner (remove_member)");
        return app;
    }

    private static async Task<Results<Ok<WorkspaceCreated>, ProblemHttpResult>> CreateWorkspace(
        CreateWorkspaceRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.create_workspace(p_name => $1)",
            [request.Name], ApiJson.Default.WorkspaceCreated);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<WorkspaceSummary[]>, ProblemHttpResult>> ListWorkspaces(HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.list_workspaces()", [], ApiJson.Default.WorkspaceSummaryArray);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<MemberList>, ProblemHttpResult>> ListMembers(
        Guid workspaceId, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.list_members(p_workspace_id => $1, p_limit => $2, p_before => $3)",
            [workspaceId, limit ?? 50, before], ApiJson.Default.MemberList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<MemberChanged>, ProblemHttpResult>> AddMember(
        Guid workspaceId, AddMemberRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.add_member(p_workspace_id => $1, p_user_id => $2, p_role => $3, p_display_name => $4)",
            [workspaceId, request.UserId, request.Role ?? "member", request.DisplayName], ApiJson.Default.MemberChanged);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<MemberChanged>, ProblemHttpResult>> SetMemberRole(
        Guid workspaceId, Guid userId, SetMemberRoleRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.set_member_role(p_workspace_id => $1, p_user_id => $2, p_role => $3)",
            [workspaceId, userId, request.Role], ApiJson.Default.MemberChanged);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RemoveMember(
        Guid workspaceId, Guid userId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.remove_member(p_workspace_id => $1, p_user_id => $2)",
            [workspaceId, userId], ApiJson.Default.MemberChanged);
        return outcome.Succeeded ? TypedResults.NoContent() : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateWorkspaceRequest(string Name);

public sealed record WorkspaceCreated(Guid WorkspaceId);

public sealed record WorkspaceSummary(Guid WorkspaceId, string Name, string Role, DateTimeOffset CreatedAt);

public sealed record Member(Guid UserId, string Role, string? DisplayName);

public sealed record MemberList(Member[] Members, string? NextBefore);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AddMemberRequest(Guid UserId, string? Role = "member", string? DisplayName = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record SetMemberRoleRequest(string Role);

public sealed record MemberChanged(Guid UserId, string? Role = null);
