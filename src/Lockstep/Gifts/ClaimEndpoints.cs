using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Gifts;

/// <summary>
/// Claims on one wishlist item: full claims, splits, pledges. Under /api/wishlist-items/{itemId} the item's
/// workspace comes from the item (on Citus, a look-up across every shard); under
/// /api/workspaces/{workspaceId}/wishlist-items/{itemId} the call names it and is routed to one node.
/// </summary>
public static class ClaimEndpoints
{
    public static IEndpointRouteBuilder MapClaims(this IEndpointRouteBuilder app)
    {
        var items = app.MapGroup("/api/wishlist-items/{itemId}").WithTags("Gifts").RequireAuthorization();
        items.MapPost("/claim", Claim).WithName("ClaimItem")
            .WithSummary("Claim the whole item; not the celebrant (claim_item)");
        items.MapDelete("/claim", Unclaim).WithName("UnclaimItem")
            .WithSummary("Withdraw the caller's claim; refused once others pledged (unclaim_item)");
        items.MapPost("/split", OpenSplit).WithName("OpenSplit")
            .WithSummary("Turn the caller's full claim into a split, adding shipping costs (open_split)");
        items.MapGet("/split", GetSplitStatus).WithName("GetSplitStatus")
            .WithSummary("Total, pledged, remaining and contributors; not the celebrant (get_split_status)");
        items.MapPost("/split/close", CloseSplit).WithName("CloseSplit")
            .WithSummary("The claimer covers what is left; the item is fully funded (close_split)");
        items.MapGet("/split/suggested-share", GetSuggestedShare).WithName("GetSuggestedShare")
            .WithSummary("The remainder divided equally to the cent among who can still give (get_suggested_share)");
        items.MapPost("/pledges", Pledge).WithName("PledgeContribution")
            .WithSummary("Pledge part of an open split, once per member, never past the total (pledge_contribution)");

        var routed = app.MapGroup("/api/workspaces/{workspaceId}/wishlist-items/{itemId}").WithTags("Gifts").RequireAuthorization();
        routed.MapPost("/claim", ClaimIn).WithName("ClaimItemInWorkspace")
            .WithSummary("POST /api/wishlist-items/{itemId}/claim, routed by the workspace (claim_item with p_workspace_id)");
        routed.MapDelete("/claim", UnclaimIn).WithName("UnclaimItemInWorkspace")
            .WithSummary("DELETE /api/wishlist-items/{itemId}/claim, routed by the workspace (unclaim_item with p_workspace_id)");
        routed.MapPost("/split", OpenSplitIn).WithName("OpenSplitInWorkspace")
            .WithSummary("POST /api/wishlist-items/{itemId}/split, routed by the workspace (open_split with p_workspace_id)");
        routed.MapGet("/split", GetSplitStatusIn).WithName("GetSplitStatusInWorkspace")
            .WithSummary("GET /api/wishlist-items/{itemId}/split, routed by the workspace (get_split_status with p_workspace_id)");
        routed.MapPost("/split/close", CloseSplitIn).WithName("CloseSplitInWorkspace")
            .WithSummary("POST /api/wishlist-items/{itemId}/split/close, routed by the workspace (close_split with p_workspace_id)");
        routed.MapGet("/split/suggested-share", GetSuggestedShareIn).WithName("GetSuggestedShareInWorkspace")
            .WithSummary("GET /api/wishlist-items/{itemId}/split/suggested-share, routed by the workspace (get_suggested_share with p_workspace_id)");
        routed.MapPost("/pledges", PledgeIn).WithName("PledgeContributionInWorkspace")
            .WithSummary("POST /api/wishlist-items/{itemId}/pledges, routed by the workspace (pledge_contribution with p_workspace_id)");
        return app;
    }

    private static Task<Results<Ok<ClaimResult>, ProblemHttpResult>> Claim(Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.claim_item(p_item_id => $1)", [itemId], GiftsJson.Default.ClaimResult);

    private static Task<Results<Ok<ClaimResult>, ProblemHttpResult>> ClaimIn(Guid workspaceId, Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.claim_item(p_workspace_id => $1, p_item_id => $2)", [workspaceId, itemId], GiftsJson.Default.ClaimResult);

    private static Task<Results<NoContent, ProblemHttpResult>> Unclaim(Guid itemId, HttpContext context, FunctionCaller db) =>
        UnclaimAsync(context, db, "select public.unclaim_item(p_item_id => $1)", [itemId]);

    private static Task<Results<NoContent, ProblemHttpResult>> UnclaimIn(Guid workspaceId, Guid itemId, HttpContext context, FunctionCaller db) =>
        UnclaimAsync(context, db, "select public.unclaim_item(p_workspace_id => $1, p_item_id => $2)", [workspaceId, itemId]);

    private static async Task<Results<NoContent, ProblemHttpResult>> UnclaimAsync(HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, GiftsJson.Default.ItemUnclaimed);
        return outcome.Succeeded ? TypedResults.NoContent() : outcome.Problem!;
    }

    private static Task<Results<Created<SplitOpened>, ProblemHttpResult>> OpenSplit(
        Guid itemId, OpenSplitRequest? request, HttpContext context, FunctionCaller db) =>
        OpenSplitAsync(context, db, request, $"/api/wishlist-items/{itemId}/split",
            "select public.open_split(p_item_id => $1, p_additional_costs => $2)", [itemId]);

    private static Task<Results<Created<SplitOpened>, ProblemHttpResult>> OpenSplitIn(
        Guid workspaceId, Guid itemId, OpenSplitRequest? request, HttpContext context, FunctionCaller db) =>
        OpenSplitAsync(context, db, request, $"/api/workspaces/{workspaceId}/wishlist-items/{itemId}/split",
            "select public.open_split(p_workspace_id => $1, p_item_id => $2, p_additional_costs => $3)", [workspaceId, itemId]);

    /// <summary>Opens the split; <paramref name="ids"/> are the call's leading arguments, the costs follow them.</summary>
    private static async Task<Results<Created<SplitOpened>, ProblemHttpResult>> OpenSplitAsync(
        HttpContext context, FunctionCaller db, OpenSplitRequest? request, string location, string sql, object?[] ids)
    {
        if (Problems.OptionalBodyNotAnObject(context, request) is { } notAnObject)
        {
            return notAnObject;
        }
        var outcome = await db.CallAsync(context, sql, [.. ids, request?.AdditionalCosts ?? 0m], GiftsJson.Default.SplitOpened);
        return outcome.Succeeded ? TypedResults.Created(location, outcome.Value) : outcome.Problem!;
    }

    private static Task<Results<Ok<SplitStatus>, ProblemHttpResult>> GetSplitStatus(Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.get_split_status(p_item_id => $1)", [itemId], GiftsJson.Default.SplitStatus);

    private static Task<Results<Ok<SplitStatus>, ProblemHttpResult>> GetSplitStatusIn(
        Guid workspaceId, Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.get_split_status(p_workspace_id => $1, p_item_id => $2)", [workspaceId, itemId],
            GiftsJson.Default.SplitStatus);

    private static Task<Results<Ok<SplitClosed>, ProblemHttpResult>> CloseSplit(Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.close_split(p_item_id => $1)", [itemId], GiftsJson.Default.SplitClosed);

    private static Task<Results<Ok<SplitClosed>, ProblemHttpResult>> CloseSplitIn(Guid workspaceId, Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.close_split(p_workspace_id => $1, p_item_id => $2)", [workspaceId, itemId], GiftsJson.Default.SplitClosed);

    private static Task<Results<Ok<SuggestedShare>, ProblemHttpResult>> GetSuggestedShare(Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.get_suggested_share(p_item_id => $1)", [itemId], GiftsJson.Default.SuggestedShare);

    private static Task<Results<Ok<SuggestedShare>, ProblemHttpResult>> GetSuggestedShareIn(
        Guid workspaceId, Guid itemId, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.get_suggested_share(p_workspace_id => $1, p_item_id => $2)", [workspaceId, itemId],
            GiftsJson.Default.SuggestedShare);

    private static Task<Results<Ok<PledgeResult>, ProblemHttpResult>> Pledge(
        Guid itemId, PledgeRequest request, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.pledge_contribution(p_item_id => $1, p_amount => $2)",
            [itemId, request.Amount], GiftsJson.Default.PledgeResult);

    private static Task<Results<Ok<PledgeResult>, ProblemHttpResult>> PledgeIn(
        Guid workspaceId, Guid itemId, PledgeRequest request, HttpContext context, FunctionCaller db) =>
        OkAsync(context, db, "select public.pledge_contribution(p_workspace_id => $1, p_item_id => $2, p_amount => $3)",
            [workspaceId, itemId, request.Amount], GiftsJson.Default.PledgeResult);

    private static async Task<Results<Ok<T>, ProblemHttpResult>> OkAsync<T>(
        HttpContext context, FunctionCaller db, string sql, object?[] args, JsonTypeInfo<T> result)
    {
        var outcome = await db.CallAsync(context, sql, args, result);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

public sealed record ClaimResult(Guid ClaimId, Guid ItemId, string ClaimType);

public sealed record ItemUnclaimed(Guid ItemId);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record OpenSplitRequest(decimal AdditionalCosts = 0);

public sealed record SplitOpened(Guid ItemId, decimal Total, decimal AdditionalCosts);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PledgeRequest(decimal Amount);

public sealed record PledgeResult(Guid ClaimId, Guid ItemId, decimal Amount, decimal Total, decimal Pledged, decimal Remaining);

public sealed record SplitClosed(Guid ItemId, decimal Total, decimal ClaimerAmount, decimal Pledged, decimal Remaining);

public sealed record Contributor(Guid UserId, string? DisplayName, decimal Amount, bool IsClaimer);

public sealed record SplitStatus(
    Guid ItemId, string ItemTitle, decimal Price, decimal AdditionalCosts, decimal Total, decimal Pledged, decimal Remaining,
    bool IsFullyFunded, Guid ClaimerId, string? ClaimerName, Contributor[] Contributors);

public sealed record ShareOfRemainder(Guid UserId, string? DisplayName, decimal Amount, bool IsClaimer);

public sealed record SuggestedShare(Guid ItemId, decimal Remaining, int Participants, decimal Share, int RemainderCents, ShareOfRemainder[] Shares);
