using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Sessions;

/// <summary>
/// Session packs. Each route has a workspace-scoped form, /api/workspaces/{workspaceId}/..., calling the
/// function's p_workspace_id form, which Citus routes to one node; the form without a workspace finds it
/// from the id first (on Citus, across every shard). Same bodies, same statuses.
/// </summary>
public static class SessionPackEndpoints
{
    public static IEndpointRouteBuilder MapSessionPacks(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Session packs").RequireAuthorization();
        api.MapGet("/clients/{clientId}/purchases", ListPurchases).WithName("ListClientPurchases")
            .WithSummary("A client's session packs with their balance, newest first; ?limit=, ?before= (list_client_purchases)");
        api.MapPost("/clients/{clientId}/purchases", CreatePurchase).WithName("CreatePurchase")
            .WithSummary("Sell a pack of sessions to a client (create_purchase)");
        api.MapGet("/purchases/{purchaseId}", GetPurchase).WithName("GetPurchase")
            .WithSummary("A session pack with its balance (get_purchase)");
        api.MapPost("/purchases/{purchaseId}/use", UseSession).WithName("UseSession")
            .WithSummary("Use one session of the pack, atomically; 422 sessions_exhausted or pack_expired (consume_session, the form of use_session that says why)");
        api.MapPost("/purchases/{purchaseId}/reinstate", ReinstateSession).WithName("ReinstateSession")
            .WithSummary("Give one used session back; never below 0, 422 no_session_to_release (reinstate_session, the form of release_session that says why)");

        var workspace = api.MapGroup("/workspaces/{workspaceId}");
        workspace.MapGet("/clients/{clientId}/purchases", ListPurchasesIn).WithName("ListClientPurchasesInWorkspace")
            .WithSummary("GET /api/clients/{clientId}/purchases, routed by the workspace (list_client_purchases with p_workspace_id)");
        workspace.MapPost("/clients/{clientId}/purchases", CreatePurchaseIn).WithName("CreatePurchaseInWorkspace")
            .WithSummary("POST /api/clients/{clientId}/purchases, routed by the workspace (create_purchase with p_workspace_id)");
        workspace.MapGet("/purchases/{purchaseId}", GetPurchaseIn).WithName("GetPurchaseInWorkspace")
            .WithSummary("GET /api/purchases/{purchaseId}, routed by the workspace (get_purchase with p_workspace_id)");
        workspace.MapPost("/purchases/{purchaseId}/use", UseSessionIn).WithName("UseSessionInWorkspace")
            .WithSummary("POST /api/purchases/{purchaseId}/use, routed by the workspace (consume_session with p_workspace_id)");
        workspace.MapPost("/purchases/{purchaseId}/reinstate", ReinstateSessionIn).WithName("ReinstateSessionInWorkspace")
            .WithSummary("POST /api/purchases/{purchaseId}/reinstate, routed by the workspace (reinstate_session with p_workspace_id)");
        return app;
    }

    private static Task<Results<Ok<PurchaseList>, ProblemHttpResult>> ListPurchases(
        Guid clientId, int? limit, string? before, HttpContext context, FunctionCaller db) =>
        ListAsync(context, db, "select public.list_client_purchases(p_client_id => $1, p_limit => $2, p_before => $3)",
            [clientId, limit ?? 50, before]);

    private static Task<Results<Ok<PurchaseList>, ProblemHttpResult>> ListPurchasesIn(
        Guid workspaceId, Guid clientId, int? limit, string? before, HttpContext context, FunctionCaller db) =>
        ListAsync(context, db,
            "select public.list_client_purchases(p_workspace_id => $1, p_client_id => $2, p_limit => $3, p_before => $4)",
            [workspaceId, clientId, limit ?? 50, before]);

    private static async Task<Results<Ok<PurchaseList>, ProblemHttpResult>> ListAsync(
        HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, SessionsJson.Default.PurchaseList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static Task<Results<Created<PurchaseCreated>, ProblemHttpResult>> CreatePurchase(
        Guid clientId, CreatePurchaseRequest request, HttpContext context, FunctionCaller db) =>
        CreateAsync(context, db, "/api/purchases",
            "select public.create_purchase(p_client_id => $1, p_sessions_total => $2, p_price => $3, p_expires_at => $4)",
            [clientId, request.SessionsTotal, request.Price, request.ExpiresAt?.ToUniversalTime()]);

    private static Task<Results<Created<PurchaseCreated>, ProblemHttpResult>> CreatePurchaseIn(
        Guid workspaceId, Guid clientId, CreatePurchaseRequest request, HttpContext context, FunctionCaller db) =>
        CreateAsync(context, db, $"/api/workspaces/{workspaceId}/purchases",
            """
            select public.create_purchase(p_workspace_id => $1, p_client_id => $2, p_sessions_total => $3, p_price => $4,
              p_expires_at => $5)
            """,
            [workspaceId, clientId, request.SessionsTotal, request.Price, request.ExpiresAt?.ToUniversalTime()]);

    private static async Task<Results<Created<PurchaseCreated>, ProblemHttpResult>> CreateAsync(
        HttpContext context, FunctionCaller db, string purchases, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, SessionsJson.Default.PurchaseCreated);
        return outcome.Succeeded
            ? TypedResults.Created($"{purchases}/{outcome.Value!.PurchaseId}", outcome.Value)
            : outcome.Problem!;
    }

    private static Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> GetPurchase(Guid purchaseId, HttpContext context, FunctionCaller db) =>
        CallPurchaseAsync(context, db, "select public.get_purchase(p_purchase_id => $1)", [purchaseId]);

    private static Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> GetPurchaseIn(
        Guid workspaceId, Guid purchaseId, HttpContext context, FunctionCaller db) =>
        CallPurchaseAsync(context, db, "select public.get_purchase(p_workspace_id => $1, p_purchase_id => $2)", [workspaceId, purchaseId]);

    private static Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> UseSession(Guid purchaseId, HttpContext context, FunctionCaller db) =>
        CallPurchaseAsync(context, db, "select public.consume_session(p_purchase_id => $1)", [purchaseId]);

    private static Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> UseSessionIn(
        Guid workspaceId, Guid purchaseId, HttpContext context, FunctionCaller db) =>
        CallPurchaseAsync(context, db, "select public.consume_session(p_workspace_id => $1, p_purchase_id => $2)", [workspaceId, purchaseId]);

    private static Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> ReinstateSession(Guid purchaseId, HttpContext context, FunctionCaller db) =>
        CallPurchaseAsync(context, db, "select public.reinstate_session(p_purchase_id => $1)", [purchaseId]);

    private static Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> ReinstateSessionIn(
        Guid workspaceId, Guid purchaseId, HttpContext context, FunctionCaller db) =>
        CallPurchaseAsync(context, db, "select public.reinstate_session(p_workspace_id => $1, p_purchase_id => $2)", [workspaceId, purchaseId]);

    private static async Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> CallPurchaseAsync(
        HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, SessionsJson.Default.PurchaseResult);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreatePurchaseRequest(int SessionsTotal, decimal? Price = null, DateTimeOffset? ExpiresAt = null);

public sealed record PurchaseCreated(Guid PurchaseId);

public sealed record Purchase(
    Guid PurchaseId,
    Guid WorkspaceId,
    Guid ClientId,
    int SessionsTotal,
    int SessionsUsed,
    int SessionsLeft,
    decimal? Price,
    DateTimeOffset PurchasedAt,
    DateTimeOffset? ExpiresAt,
    bool Expired);

public sealed record PurchaseResult(Purchase Purchase);

public sealed record PurchaseList(Purchase[] Purchases, string? NextBefore);
