using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Gifts;

/// <summary>Claims on one wishlist item: full claims, splits, pledges. The item's workspace comes from the item.</summary>
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
        return app;
    }

    private static async Task<Results<Ok<ClaimResult>, ProblemHttpResult>> Claim(Guid itemId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.claim_item(p_item_id => $1)", [itemId], GiftsJson.Default.ClaimResult);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Unclaim(Guid itemId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.unclaim_item(p_item_id => $1)", [itemId], GiftsJson.Default.ItemUnclaimed);
        return outcome.Succeeded ? TypedResults.NoContent() : outcome.Problem!;
    }

    private static async Task<Results<Created<SplitOpened>, ProblemHttpResult>> OpenSplit(
        Guid itemId, OpenSplitRequest? request, HttpContext context, FunctionCaller db)
    {
        if (Problems.OptionalBodyNotAnObject(context, request) is { } notAnObject)
        {
            return notAnObject;
        }
        var outcome = await db.CallAsync(context, "select public.open_split(p_item_id => $1, p_additional_costs => $2)",
            [itemId, request?.AdditionalCosts ?? 0m], GiftsJson.Default.SplitOpened);
        return outcome.Succeeded ? TypedResults.Created($"/api/wishlist-items/{itemId}/split", outcome.Value) : outcome.Problem!;
    }

    private static async Task<Results<Ok<SplitStatus>, ProblemHttpResult>> GetSplitStatus(Guid itemId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.get_split_status(p_item_id => $1)", [itemId], GiftsJson.Default.SplitStatus);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<SplitClosed>, ProblemHttpResult>> CloseSplit(Guid itemId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.close_split(p_item_id => $1)", [itemId], GiftsJson.Default.SplitClosed);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<SuggestedShare>, ProblemHttpResult>> GetSuggestedShare(Guid itemId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.get_suggested_share(p_item_id => $1)", [itemId], GiftsJson.Default.SuggestedShare);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<PledgeResult>, ProblemHttpResult>> Pledge(
        Guid itemId, PledgeRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.pledge_contribution(p_item_id => $1, p_amount => $2)",
            [itemId, request.Amount], GiftsJson.Default.PledgeResult);
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
