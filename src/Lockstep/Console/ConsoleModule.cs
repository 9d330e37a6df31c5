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
        app.UseAntiforgery();
        app.MapRazorComponents<App>();
        app.MapGet("/console/live", ConsoleLive.StreamAsync).ExcludeFromDescription();
        return app;
    }
}

/// <summary>What the console offers: the user picker only in the Development environment.</summary>
public sealed record ConsoleOptions(bool UserPicker);
