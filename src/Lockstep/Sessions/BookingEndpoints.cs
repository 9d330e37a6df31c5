using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Sessions;

/// <summary>
/// Bookings. Each route named by a client or booking id alone has a workspace-scoped form,
/// /api/workspaces/{workspaceId}/..., calling the function's p_workspace_id form (routed on Citus).
/// </summary>
public static class BookingEndpoints
{
    public static IEndpointRouteBuilder MapBookings(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Bookings").RequireAuthorization();

        api.MapGet("/clients/{clientId}/bookings", ListBookings).WithName("ListClientBookings")
            .WithSummary("A client's bookings, the latest start first; ?limit=, ?before= (list_client_bookings)");
        api.MapPost("/clients/{clientId}/bookings", CreateBooking).WithName("CreateBooking")
            .WithSummary("Book a client, optionally against one of the client's packs (create_booking)");
        api.MapPost("/bookings/{bookingId}/complete", CompleteBooking).WithName("CompleteBooking")
            .WithSummary("Mark a booking completed; consumes one session of its pack exactly once (complete_booking)");
        api.MapPost("/bookings/{bookingId}/cancel", CancelBooking).WithName("CancelBooking")
            .WithSummary("Cancel a booking; with reinstate, gives its session back only if it consumed one (cancel_booking)");
        api.MapPost("/bookings/{bookingId}/no-show", MarkNoShow).WithName("MarkNoShow")
            .WithSummary("Mark a booking as a no-show; its session is forfeited once (mark_no_show)");

        var workspace = api.MapGroup("/workspaces/{workspaceId}");
        workspace.MapGet("/calendar", Calendar).WithName("BookingCalendar")
            .WithSummary("Bookings starting in [from, to) with the client's name and the pack's balance (booking_calendar)");
        workspace.MapGet("/clients/{clientId}/bookings", ListBookingsIn).WithName("ListClientBookingsInWorkspace")
            .WithSummary("GET /api/clients/{clientId}/bookings, routed by the workspace (list_client_bookings with p_workspace_id)");
        workspace.MapPost("/clients/{clientId}/bookings", CreateBookingIn).WithName("CreateBookingInWorkspace")
            .WithSummary("POST /api/clients/{clientId}/bookings, routed by the workspace (create_booking with p_workspace_id)");
        workspace.MapPost("/bookings/{bookingId}/complete", CompleteBookingIn).WithName("CompleteBookingInWorkspace")
            .WithSummary("POST /api/bookings/{bookingId}/complete, routed by the workspace (complete_booking with p_workspace_id)");
        workspace.MapPost("/bookings/{bookingId}/cancel", CancelBookingIn).WithName("CancelBookingInWorkspace")
            .WithSummary("POST /api/bookings/{bookingId}/cancel, routed by the workspace (cancel_booking with p_workspace_id)");
        workspace.MapPost("/bookings/{bookingId}/no-show", MarkNoShowIn).WithName("MarkNoShowInWorkspace")
            .WithSummary("POST /api/bookings/{bookingId}/no-show, routed by the workspace (mark_no_show with p_workspace_id)");
        return app;
    }

    private static Task<Results<Ok<BookingList>, ProblemHttpResult>> ListBookings(
        Guid clientId, int? limit, string? before, HttpContext context, FunctionCaller db) =>
        ListAsync(context, db, "select public.list_client_bookings(p_client_id => $1, p_limit => $2, p_before => $3)",
            [clientId, limit ?? 50, before]);

    private static Task<Results<Ok<BookingList>, ProblemHttpResult>> ListBookingsIn(
        Guid workspaceId, Guid clientId, int? limit, string? before, HttpContext context, FunctionCaller db) =>
        ListAsync(context, db,
            "select public.list_client_bookings(p_workspace_id => $1, p_client_id => $2, p_limit => $3, p_before => $4)",
            [workspaceId, clientId, limit ?? 50, before]);

    private static async Task<Results<Ok<BookingList>, ProblemHttpResult>> ListAsync(
        HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, SessionsJson.Default.BookingList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static Task<Results<Ok<BookingCreated>, ProblemHttpResult>> CreateBooking(
        Guid clientId, CreateBookingRequest request, HttpContext context, FunctionCaller db) =>
        CreateAsync(context, db,
            "select public.create_booking(p_client_id => $1, p_starts_at => $2, p_ends_at => $3, p_purchase_id => $4)",
            [clientId, request.StartsAt.ToUniversalTime(), request.EndsAt.ToUniversalTime(), request.PurchaseId]);

    private static Task<Results<Ok<BookingCreated>, ProblemHttpResult>> CreateBookingIn(
        Guid workspaceId, Guid clientId, CreateBookingRequest request, HttpContext context, FunctionCaller db) =>
        CreateAsync(context, db,
            """
            select public.create_booking(p_workspace_id => $1, p_client_id => $2, p_starts_at => $3, p_ends_at => $4,
              p_purchase_id => $5)
            """,
            [workspaceId, clientId, request.StartsAt.ToUniversalTime(), request.EndsAt.ToUniversalTime(), request.PurchaseId]);

    private static async Task<Results<Ok<BookingCreated>, ProblemHttpResult>> CreateAsync(
        HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, SessionsJson.Default.BookingCreated);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static Task<Results<Ok<BookingChange>, ProblemHttpResult>> CompleteBooking(Guid bookingId, HttpContext context, FunctionCaller db) =>
        ChangeAsync(context, db, "select public.complete_booking(p_booking_id => $1)", [bookingId]);

    private static Task<Results<Ok<BookingChange>, ProblemHttpResult>> CompleteBookingIn(
        Guid workspaceId, Guid bookingId, HttpContext context, FunctionCaller db) =>
        ChangeAsync(context, db, "select public.complete_booking(p_workspace_id => $1, p_booking_id => $2)", [workspaceId, bookingId]);

    private static Task<Results<Ok<BookingChange>, ProblemHttpResult>> MarkNoShow(Guid bookingId, HttpContext context, FunctionCaller db) =>
        ChangeAsync(context, db, "select public.mark_no_show(p_booking_id => $1)", [bookingId]);

    private static Task<Results<Ok<BookingChange>, ProblemHttpResult>> MarkNoShowIn(
        Guid workspaceId, Guid bookingId, HttpContext context, FunctionCaller db) =>
        ChangeAsync(context, db, "select public.mark_no_show(p_workspace_id => $1, p_booking_id => $2)", [workspaceId, bookingId]);

    // No body, or {}, cancels without giving a session back: cancelling is the point, reinstating the option.
    private static async Task<Results<Ok<BookingChange>, ProblemHttpResult>> CancelBooking(
        Guid bookingId, CancelBookingRequest? request, HttpContext context, FunctionCaller db)
    {
        if (Problems.OptionalBodyNotAnObject(context, request) is { } notAnObject)
        {
            return notAnObject;
        }
        return await ChangeAsync(context, db, "select public.cancel_booking(p_booking_id => $1, p_reinstate => $2)",
            [bookingId, request?.Reinstate ?? false]);
    }

    private static async Task<Results<Ok<BookingChange>, ProblemHttpResult>> CancelBookingIn(
        Guid workspaceId, Guid bookingId, CancelBookingRequest? request, HttpContext context, FunctionCaller db)
    {
        if (Problems.OptionalBodyNotAnObject(context, request) is { } notAnObject)
        {
            return notAnObject;
        }
        return await ChangeAsync(context, db,
            "select public.cancel_booking(p_workspace_id => $1, p_booking_id => $2, p_reinstate => $3)",
            [workspaceId, bookingId, request?.Reinstate ?? false]);
    }

    private static async Task<Results<Ok<BookingChange>, ProblemHttpResult>> ChangeAsync(
        HttpContext context, FunctionCaller db, string sql, object?[] args)
    {
        var outcome = await db.CallAsync(context, sql, args, SessionsJson.Default.BookingChange);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<Calendar>, ProblemHttpResult>> Calendar(
        Guid workspaceId, DateTimeOffset from, DateTimeOffset to, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.booking_calendar(p_workspace_id => $1, p_from => $2, p_to => $3)",
            [workspaceId, from.ToUniversalTime(), to.ToUniversalTime()], SessionsJson.Default.Calendar);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateBookingRequest(DateTimeOffset StartsAt, DateTimeOffset EndsAt, Guid? PurchaseId = null);

public sealed record BookingCreated(Guid BookingId);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CancelBookingRequest(bool Reinstate = false);

public sealed record Booking(
    Guid BookingId,
    Guid WorkspaceId,
    Guid ClientId,
    Guid? PurchaseId,
    DateTimeOffset StartsAt,
    DateTimeOffset EndsAt,
    string Status,
    bool SessionConsumed);

public sealed record BookingList(Booking[] Bookings, string? NextBefore);

/// <summary>A booking after a change; <c>already</c> when it was in that state before (nothing changed again).</summary>
public sealed record BookingChange(bool Already, Booking Booking, bool? Reinstated = null);

public sealed record CalendarEntry(
    Guid BookingId,
    Guid ClientId,
    string ClientName,
    Guid? PurchaseId,
    DateTimeOffset StartsAt,
    DateTimeOffset EndsAt,
    string Status,
    bool SessionConsumed,
    int? SessionsTotal,
    int? SessionsUsed,
    int? SessionsLeft);

public sealed record Calendar(CalendarEntry[] Bookings);
