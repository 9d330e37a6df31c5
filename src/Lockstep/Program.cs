using Lockstep.Crm;
using Lockstep.Platform;
using Lockstep.Platform.Cli;

return await LockstepCli.RunAsync(args, CreateServer, CrmModule.ContactsCommand());

static WebApplication CreateServer(string[] args)
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddPlatform();
    builder.AddCrm();

    var app = builder.Build();
    app.MapPlatform();
    app.MapCrm();
    return app;
}

public partial class Program;
