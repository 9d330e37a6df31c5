using Lockstep.WebConsole.Components;

namespace Lockstep.WebConsole;

/// <summary>
/// The web console at /console: Razor components rendered on the server (static SSR, plain HTML
/// forms; no JavaScript build). The signed-in token stays in server memory, found by a random
/// HttpOnly cookie; every action calls the same SQL functions as the API through
/// <see cref="Platform.Database.FunctionCaller"/>, as that user.
/// </summary>
public static class ConsoleModule
{
    public static WebApplicationBuilder AddWebConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddRazorComponents();
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddSingleton<ConsoleSessions>();
        builder.Services.AddScoped<ConsoleSession>();
        builder.Services.AddSingleton(new ConsoleOptions(UserPicker: builder.Environment.IsDevelopment()));
        return builder;
    }

    public static WebApplication MapWebConsole(this WebApplication app)
    {
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/console"), console =>
        {
            console.Use(ShowFailureAsHtml);
            console.Use(EndStaleSession);
        });
        app.UseAntiforgery();
        app.MapRazorComponents<App>();
        app.MapGet("/console/live", ConsoleLive.StreamAsync).ExcludeFromDescription();
        return app;
    }

    /// <summary>
    /// A cookie whose session has ended (its token expired, or the process restarted) is cleared, so the
    /// pages show the sign-in form. A form sent from a page of that session is not run: it is answered
    /// 303 back to its page, as a GET, where the sign-in form is.
    /// </summary>
    private static Task EndStaleSession(HttpContext context, RequestDelegate next)
    {
        var id = context.Request.Cookies[ConsoleSession.Cookie];
        if (id is null || context.RequestServices.GetRequiredService<ConsoleSessions>().Find(id) is not null)
        {
            return next(context);
        }
        context.Response.Cookies.Delete(ConsoleSession.Cookie, new CookieOptions { Path = "/console" });
        if (HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status303SeeOther;
            context.Response.Headers.Location = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
            return Task.CompletedTask;
        }
        return next(context);
    }

    /// <summary>A person at the console sees a sentence, never the API's problem JSON or a stack trace (the log keeps it).</summary>
    private static async Task ShowFailureAsHtml(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            context.RequestServices.GetRequiredService<ILogger<ConsoleSession>>().LogError(e, "Console request {Path} failed", context.Request.Path);
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            context.Response.ContentType = "text/html; charset=utf-8";
            await context.Response.WriteAsync(
                "<!DOCTYPE html><html lang=\"en\"><title>Lockstep console</title><main><h1>Something went wrong on our side</h1>"
                + "<p role=\"alert\">Nothing was changed by this error. <a href=\"/console\">Back to the console</a></p></main></html>");
        }
    }
}

/// <summary>What the console offers: the user picker only in the Development environment.</summary>
public sealed record ConsoleOptions(bool UserPicker);
