using Lockstep.Platform;
using Lockstep.Platform.Cli;
using Lockstep.Sessions;

return await LockstepCli.RunAsync(args, CreateServer, SessionsModule.BookingsCommand());

static WebApplication CreateServer(string[] args)
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddPlatform();
    builder.AddSessions();

    var app = builder.Build();
    app.MapPlatform();
    app.MapSessions();
    return app;
}

public partial class Program;
