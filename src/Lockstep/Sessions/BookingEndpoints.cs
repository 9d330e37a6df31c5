using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Sessions;

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
        api.MapGet("/workspaces/{workspaceId}/calendar", Calendar).WithName("BookingCalendar")
            .WithSummary("Bookings starting in [from, to) with the client's name and the pack's balance (booking_calendar)");
        return app;
    }

    private static async Task<Results<Ok<BookingList>, ProblemHttpResult>> ListBookings(
        Guid clientId, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.list_client_bookings(p_client_id => $1, p_limit => $2, p_before => $3)",
            [clientId, limit ?? 50, before], SessionsJson.Default.BookingList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<BookingCreated>, ProblemHttpResult>> CreateBooking(
        Guid clientId, CreateBookingRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.create_booking(p_client_id => $1, p_starts_at => $2, p_ends_at => $3, p_purchase_id => $4)",
            [clientId, request.StartsAt.ToUniversalTime(), request.EndsAt.ToUniversalTime(), request.PurchaseId], SessionsJson.Default.BookingCreated);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<BookingChange>, ProblemHttpResult>> CompleteBooking(Guid bookingId, HttpContext context, FunctionCaller db) =>
        await ChangeAsync(context, db, "select public.complete_booking(p_booking_id => $1)", [bookingId]);

    private static async Task<Results<Ok<BookingChange>, ProblemHttpResult>> MarkNoShow(Guid bookingId, HttpContext context, FunctionCaller db) =>
        await ChangeAsync(context, db, "select public.mark_no_show(p_booking_id => $1)", [bookingId]);

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
