using System.Text;
using Lockstep.Gifts;
using Lockstep.Platform.Database;

namespace Lockstep.WebConsole;

/// <summary>
/// The console's live notifications: Server-Sent Events for the signed-in browser (found by its
/// HttpOnly cookie), woken by the Gifts module's in-process LISTEN/NOTIFY fan-out. A signal only
/// says "look again"; the rows come from the table, so nothing is lost to a coalesced signal. When the
/// session's token expires the feed sends <c>event: expired</c> and ends; the page then reloads to the sign-in form.
/// </summary>
public static class ConsoleLive
{
    public static async Task StreamAsync(HttpContext context, ConsoleSessions sessions, NotificationHub hub, FunctionCaller db, ILogger<ConsoleSessions> log)
    {
        if (sessions.Find(context.Request.Cookies[ConsoleSession.Cookie]) is not { Token.UserId: { } user } state)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        var aborted = context.RequestAborted;
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        // The cursor first (the newest notification of each workspace), then subscribe, then one catch-up
        // read: a notification written in between is neither skipped nor waits for the next signal.
        var start = await ConsoleSession.CallAsync(db, state.Token, log, "notification_cursor");
        var cursor = start.Ok ? start.Value.GetProperty("cursor").GetString()! : "";
        using var subscription = hub.Subscribe(user);
        var catchUp = true;
        await context.Response.WriteAsync("event: ready\ndata: subscribed\n\n", aborted);
        await context.Response.Body.FlushAsync(aborted);
        using var expiry = state.Token.CancelAtExpiry(aborted);
        try
        {
            while (true)
            {
                if (expiry.IsCancellationRequested)
                {
                    // The token expired, and the session with it (ConsoleSessions no longer finds it).
                    await context.Response.WriteAsync("event: expired\ndata: sign in again\n\n", aborted);
                    await context.Response.Body.FlushAsync(aborted);
                    return;
                }
                bool woken;
                try
                {
                    woken = catchUp || await subscription.WaitAsync(TimeSpan.FromSeconds(20), expiry.Token);
                }
                catch (OperationCanceledException) when (expiry.IsCancellationRequested && !aborted.IsCancellationRequested)
                {
                    continue;
                }
                if (!woken)
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", aborted);
                    await context.Response.Body.FlushAsync(aborted);
                    continue;
                }
                catchUp = false;
                var since = await ConsoleSession.CallAsync(db, state.Token, log, "notifications_since", new Arg("p_cursor", cursor), new Arg("p_limit", 100));
                if (!since.Ok)
                {
                    continue;
                }
                cursor = since.Value.GetProperty("cursor").GetString()!;
                var events = new StringBuilder();
                foreach (var row in since.Value.GetProperty("notifications").EnumerateArray())
                {
                    events.Append("data: ").Append(NotificationText.Of(row).ReplaceLineEndings(" ")).Append("\n\n");
                }
                await context.Response.WriteAsync(events.ToString(), aborted);
                await context.Response.Body.FlushAsync(aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
        catch (IOException) when (aborted.IsCancellationRequested)
        {
        }
    }
}
