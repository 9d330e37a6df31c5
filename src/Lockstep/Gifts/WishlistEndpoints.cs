using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Gifts;

/// <summary>
/// Wishlists. A wishlist's routes have a workspace-scoped form, /api/workspaces/{workspaceId}/wishlists/{wishlistId},
/// calling the function's p_workspace_id form (routed on Citus); /api/wishlists/{wishlistId} finds the workspace first.
/// </summary>
public static class WishlistEndpoints
{
    public static IEndpointRouteBuilder MapWishlists(this IEndpointRouteBuilder app)
    {
        var workspaces = app.MapGroup("/api/workspaces/{workspaceId}/wishlists").WithTags("Gifts").RequireAuthorization();
        workspaces.MapPost("/", CreateWishlist).WithName("CreateWishlist")
            .WithSummary("Create a wishlist; the caller is its celebrant (create_wishlist)");
        workspaces.MapGet("/", ListWishlists).WithName("ListWishlists")
            .WithSummary("The wishlists of a gift group, newest first; ?limit=, ?before= (list_wishlists)");
        workspaces.MapGet("/{wishlistId}", GetWishlistIn).WithName("GetWishlistInWorkspace")
            .WithSummary("GET /api/wishlists/{wishlistId}, routed by the workspace (get_wishlist with p_workspace_id)");
        workspaces.MapPost("/{wishlistId}/items", AddItemIn).WithName("AddWishlistItemInWorkspace")
            .WithSummary("POST /api/wishlists/{wishlistId}/items, routed by the workspace (add_wishlist_item with p_workspace_id)");

        var wishlists = app.MapGroup("/api/wishlists/{wishlistId}").WithTags("Gifts").RequireAuthorization();
        wishlists.MapGet("/", GetWishlist).WithName("GetWishlist")
            .WithSummary("A wishlist with a page of its items, newest first; ?limit=, ?before= page the items; claim state for members, none for the celebrant (get_wishlist)");
        wishlists.MapPost("/items", AddItem).WithName("AddWishlistItem")
            .WithSummary("Add an item to the caller's own wishlist (add_wishlist_item)");
        return app;
    }

    private static async Task<Results<Created<WishlistCreated>, ProblemHttpResult>> CreateWishlist(
        Guid workspaceId, CreateWishlistRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.create_wishlist(p_workspace_id => $1, p_title => $2)",
            [workspaceId, request.Title], GiftsJson.Default.WishlistCreated);
        return outcome.Succeeded ? TypedResults.Created($"/api/wishlists/{outcome.Value!.WishlistId}", outcome.Value) : outcome.Problem!;
    }

    private static async Task<Results<Ok<WishlistList>, ProblemHttpResult>> ListWishlists(
        Guid workspaceId, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.list_wishlists(p_workspace_id => $1, p_limit => $2, p_before => $3)",
            [workspaceId, limit ?? 50, before], GiftsJson.Default.WishlistList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static Task<Results<Ok<WishlistView>, ProblemHttpResult>> GetWishlist(
        Guid wishlistId, int? limit, string? before, HttpContext context, FunctionCaller db) =>
        GetAsync(context, db, "select public.get_wishlist(p_wishlist_id => $1, p_items_limit => $2, p_items_before => $3)",
            [wishlistId, limit ?? 50, before]);

    private static Task<Results<Ok<WishlistView>, ProblemHttpResult>> GetWishlistIn(
        Guid workspaceId, Guid wishlistId, int? limit, string? before, HttpContext context, FunctionCaller db) =>
        GetAsync(context, db,
            "select public.get_wishlist(p_workspace_id => $1, p_wishlist_id => $2, p_items_limit => $3, p_items_before => $4)",
            [workspaceId, wishlistId, limit ?? 50, before]);

    private static async Task<Results<Ok<WishlistView>, ProblemHttpResult>> GetAsync(HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, GiftsJson.Default.WishlistView);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static Task<Results<Ok<ItemAdded>, ProblemHttpResult>> AddItem(
        Guid wishlistId, AddItemRequest request, HttpContext context, FunctionCaller db) =>
        AddItemAsync(context, db,
            "select public.add_wishlist_item(p_wishlist_id => $1, p_title => $2, p_price => $3, p_link => $4, p_notes => $5)",
            [wishlistId, request.Title, request.Price, request.Link, request.Notes]);

    private static Task<Results<Ok<ItemAdded>, ProblemHttpResult>> AddItemIn(
        Guid workspaceId, Guid wishlistId, AddItemRequest request, HttpContext context, FunctionCaller db) =>
        AddItemAsync(context, db,
            """
            select public.add_wishlist_item(p_workspace_id => $1, p_wishlist_id => $2, p_title => $3, p_price => $4, p_link => $5,
              p_notes => $6)
            """,
            [workspaceId, wishlistId, request.Title, request.Price, request.Link, request.Notes]);

    private static async Task<Results<Ok<ItemAdded>, ProblemHttpResult>> AddItemAsync(HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, GiftsJson.Default.ItemAdded);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateWishlistRequest(string Title);

public sealed record WishlistCreated(Guid WishlistId);

public sealed record WishlistSummary(Guid WishlistId, string Title, Guid CelebrantId, string? CelebrantName, long ItemCount, DateTimeOffset CreatedAt);

public sealed record WishlistList(WishlistSummary[] Wishlists, string? NextBefore);

/// <summary>An item; the claim fields are absent in the celebrant's view.</summary>
public sealed record WishlistItemView(
    Guid ItemId, string Title, decimal Price, string? Link, string? Notes, DateTimeOffset CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? AdditionalCosts = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? Total = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ClaimState = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? ClaimerId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ClaimerName = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? Pledged = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? Remaining = null);

public sealed record WishlistView(
    Guid WishlistId, Guid WorkspaceId, string Title, Guid CelebrantId, string? CelebrantName, bool IsCelebrant, WishlistItemView[] Items,
    string? ItemsNextBefore);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AddItemRequest(string Title, decimal Price, string? Link = null, string? Notes = null);

public sealed record ItemAdded(Guid ItemId);
