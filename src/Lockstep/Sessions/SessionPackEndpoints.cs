using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Sessions;

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
        return app;
    }

    private static async Task<Results<Ok<PurchaseList>, ProblemHttpResult>> ListPurchases(
        Guid clientId, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.list_client_purchases(p_client_id => $1, p_limit => $2, p_before => $3)",
            [clientId, limit ?? 50, before], SessionsJson.Default.PurchaseList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Created<PurchaseCreated>, ProblemHttpResult>> CreatePurchase(
        Guid clientId, CreatePurchaseRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.create_purchase(p_client_id => $1, p_sessions_total => $2, p_price => $3, p_expires_at => $4)",
            [clientId, request.SessionsTotal, request.Price, request.ExpiresAt?.ToUniversalTime()], SessionsJson.Default.PurchaseCreated);
        return outcome.Succeeded
            ? TypedResults.Created($"/api/purchases/{outcome.Value!.PurchaseId}", outcome.Value)
            : outcome.Problem!;
    }

    private static async Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> GetPurchase(Guid purchaseId, HttpContext context, FunctionCaller db) =>
        await CallPurchaseAsync(context, db, "select public.get_purchase(p_purchase_id => $1)", purchaseId);

    private static async Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> UseSession(Guid purchaseId, HttpContext context, FunctionCaller db) =>
        await CallPurchaseAsync(context, db, "select public.consume_session(p_purchase_id => $1)", purchaseId);

    private static async Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> ReinstateSession(Guid purchaseId, HttpContext context, FunctionCaller db) =>
        await CallPurchaseAsync(context, db, "select public.reinstate_session(p_purchase_id => $1)", purchaseId);

    private static async Task<Results<Ok<PurchaseResult>, ProblemHttpResult>> CallPurchaseAsync(
        HttpContext context, FunctionCaller db, string sql, Guid purchaseId)
    {
        var outcome = await db.CallAsync(context, sql, [purchaseId], SessionsJson.Default.PurchaseResult);
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
