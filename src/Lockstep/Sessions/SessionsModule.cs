using System.CommandLine;
using System.Text.Json.Serialization;
using Lockstep.Platform.Cli;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;

namespace Lockstep.Sessions;

/// <summary>Session packs and bookings: race-free use and reinstate, completion that consumes once, auto-completion.</summary>
public static class SessionsModule
{
    public static WebApplicationBuilder AddSessions(this WebApplicationBuilder builder)
    {
        ApiJson.Add(builder.Services, SessionsJson.Default);
        Problems.AddConflictCodes("booking_not_scheduled");
        Problems.AddConstraint("purchases_sessions_used_range", "sessions_out_of_range", "A pack's used sessions stay between 0 and its size");
        Problems.AddConstraint("bookings_time_order", "invalid_booking_times", "A booking starts before it ends");
        Problems.AddConstraint("no_session_to_release", "no_session_to_release", "No used session to give back on this pack");
        builder.Services.AddHostedService<BookingAutoCompletion>();
        return builder;
    }

    public static WebApplication MapSessions(this WebApplication app)
    {
        app.MapSessionPacks();
        app.MapBookings();
        return app;
    }

    /// <summary><c>lockstep bookings complete-due</c>: one auto-completion pass by hand.</summary>
    public static Command BookingsCommand()
    {
        var completeDue = new Command("complete-due", "Complete every scheduled booking whose end has passed (one pass) and print how many");
        completeDue.SetAction((_, cancellationToken) => LockstepCli.WithDatabaseAsync(async (database, ct) =>
        {
            using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
            var pass = await BookingAutoCompletion.RunPassAsync(
                database.DataSource, loggerFactory.CreateLogger<BookingAutoCompletionPass>(), ct);
            Console.WriteLine($"Completed {pass.Completed} due booking(s); {pass.Failed} failed.");
            return pass.Failed == 0 ? 0 : 1;
        }, cancellationToken));
        return new Command("bookings", "Session bookings") { completeDue };
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CreatePurchaseRequest))]
[JsonSerializable(typeof(PurchaseCreated))]
[JsonSerializable(typeof(PurchaseResult))]
[JsonSerializable(typeof(PurchaseList))]
[JsonSerializable(typeof(CreateBookingRequest))]
[JsonSerializable(typeof(BookingCreated))]
[JsonSerializable(typeof(BookingList))]
[JsonSerializable(typeof(BookingChange))]
[JsonSerializable(typeof(CancelBookingRequest))]
[JsonSerializable(typeof(Calendar))]
public sealed partial class SessionsJson : JsonSerializerContext;
