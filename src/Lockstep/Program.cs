using Lockstep.Gifts;
using Lockstep.Platform;
using Lockstep.Platform.Cli;

return await LockstepCli.RunAsync(args, CreateServer);

static WebApplication CreateServer(string[] args)
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddPlatform();
    builder.AddGifts();

    var app = builder.Build();
    app.MapPlatform();
    app.MapGifts();
    return app;
}

public partial class Program;
