using Lockstep.Leads;
using Lockstep.Platform;
using Lockstep.Platform.Cli;

return await LockstepCli.RunAsync(args, CreateServer, WhatsAppBenchCommand.Create(CreateServer));

static WebApplication CreateServer(string[] args)
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddPlatform();
    builder.AddLeads();

    var app = builder.Build();
    app.MapPlatform();
    app.MapLeads();
    return app;
}

public partial class Program;
