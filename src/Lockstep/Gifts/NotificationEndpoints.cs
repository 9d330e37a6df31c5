using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Gifts;

/// <summary>The caller's notifications: a paged list, marking read, and the live stream (Server-Sent Events).</summary>
public static class NotificationEndpoints
{
    public static IEndpointRouteBuilder MapNotifications(this IEndpointRouteBuilder app)
    {
        var notifications = app.MapGroup("/api/notifications").WithTags("Notifications").RequireAuthorization();
        notifications.MapGet("/", List).WithName("ListNotifications")
            .WithSummary("The caller's notifications, newest first; ?unread=true, ?limit=, ?before= (list_notifications)");
        notifications.MapPost("/{notificationId}/read", MarkRead).WithName("MarkNotificationRead")
            .WithSummary("Mark one of the caller's notifications read (mark_notification_read)");
        notifications.MapPost("/read-all", MarkAllRead).WithName("MarkAllNotificationsRead")
            .WithSummary("Mark all the caller's notifications read (mark_all_notifications_read)");
        notifications.MapGet("/stream", Stream).WithName("StreamNotifications")
            .WithSummary("Server-Sent Events: each new notification as it happens; the event id is a cursor, and Last-Event-ID replays what was missed");
        return app;
    }

    private static async Task<Results<Ok<NotificationPage>, ProblemHttpResult>> List(
        HttpContext context, FunctionCaller db, bool? unread = null, int? limit = null, string? before = null)
    {
        var outcome = await db.CallAsync(context,
            "select public.list_notifications(p_unread_only => $1, p_limit => $2, p_before => $3)",
            [unread ?? false, limit ?? 50, before], GiftsJson.Default.NotificationPage);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<NotificationRead>, ProblemHttpResult>> MarkRead(Guid notificationId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.mark_notification_read(p_notification_id => $1)",
            [notificationId], GiftsJson.Default.NotificationRead);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<NotificationsMarked>, ProblemHttpResult>> MarkAllRead(HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, "select public.mark_all_notifications_read()", [], GiftsJson.Default.NotificationsMarked);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    /// <summary>
    /// Subscribes first, then reads: a notification committed between the two is still read, because
    /// every wake-up reads all rows after the cursor last sent (the event id: one recipient_seq per
    /// workspace, see notifications_since). Ends the response when the caller's token expires: the client
    /// reconnects, and its token is then refused.
    /// </summary>
    private static async Task Stream(HttpContext context, FunctionCaller db, NotificationHub hub, IConfiguration configuration)
    {
        var token = context.Features.Get<VerifiedToken>();
        if (token?.UserId is not Guid user)
        {
            await Problems.Problem(401, "not_authenticated", "Sign in to follow notifications").ExecuteAsync(context);
            return;
        }
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString();
        var keepAlive = TimeSpan.FromSeconds(configuration.GetValue("Lockstep:Gifts:KeepAliveSeconds", 15.0));
        var aborted = context.RequestAborted;

        using var subscription = hub.Subscribe(user);
        var start = await db.CallAsync(token, "select public.notification_cursor(p_last_event_id => $1)",
            [lastEventId.Length > 0 ? lastEventId : null], aborted);
        string cursor;
        using (var started = JsonDocument.Parse(start!))
        {
            if (!started.RootElement.GetProperty("success").GetBoolean())
            {
                await Problems.Problem(400, "invalid_last_event_id",
                    "Last-Event-ID is an event id this stream sent (workspace_id:recipient_seq pairs) or an older numeric one", "Last-Event-ID")
                    .ExecuteAsync(context);
                return;
            }
            cursor = started.RootElement.GetProperty("cursor").GetString()!;
        }

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // Only the waits end at expiry; an event being written is finished first, never cut in half.
        using var expiry = token.CancelAtExpiry(aborted);
        try
        {
            await context.Response.WriteAsync(": connected\n\n", aborted);
            await context.Response.Body.FlushAsync(aborted);
            while (!expiry.IsCancellationRequested)
            {
                cursor = await SendSinceAsync(context, db, token, cursor, aborted);
                if (!await subscription.WaitAsync(keepAlive, expiry.Token))
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", aborted);
                    await context.Response.Body.FlushAsync(aborted);
                }
            }
        }
        catch (OperationCanceledException) when (expiry.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
        catch (IOException) when (aborted.IsCancellationRequested)
        {
        }
    }

    private static async Task<string> SendSinceAsync(HttpContext context, FunctionCaller db, VerifiedToken token, string cursor, CancellationToken cancellationToken)
    {
        const int Batch = 100;
        while (true)
        {
            var json = await db.CallAsync(token, "select public.notifications_since(p_cursor => $1, p_limit => $2)",
                [cursor, Batch], cancellationToken);
            using var page = JsonDocument.Parse(json!);
            var rows = page.RootElement.GetProperty("notifications");
            cursor = page.RootElement.GetProperty("cursor").GetString()!;
            if (rows.GetArrayLength() == 0)
            {
                return cursor;
            }
            var events = new StringBuilder();
            foreach (var row in rows.EnumerateArray())
            {
                events.Append("id: ").Append(row.GetProperty("cursor").GetString()).Append('\n')
                      .Append("event: notification\n")
                      .Append("data: ").Append(row.GetRawText()).Append("\n\n");
            }
            await context.Response.WriteAsync(events.ToString(), cancellationToken);
            await context.Response.Body.FlushAsync(cancellationToken);
            if (rows.GetArrayLength() < Batch)
            {
                return cursor;
            }
        }
    }
}

public sealed record Notification(Guid Id, long Seq, long RecipientSeq, Guid WorkspaceId, string Type, JsonElement Data, DateTimeOffset CreatedAt, DateTimeOffset? ReadAt);

public sealed record NotificationPage(Notification[] Notifications, string? NextBefore);

public sealed record NotificationRead(Guid NotificationId, DateTimeOffset ReadAt);

public sealed record NotificationsMarked(int Marked);
