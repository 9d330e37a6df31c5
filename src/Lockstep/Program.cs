using Lockstep.Crm;
using Lockstep.Gifts;
using Lockstep.Leads;
using Lockstep.Platform;
using Lockstep.Platform.Cli;
using Lockstep.Sessions;
using Lockstep.WebConsole;

return await LockstepCli.RunAsync(args, CreateServer,
    CrmModule.ContactsCommand(), SessionsModule.BookingsCommand(), WhatsAppBenchCommand.Create(CreateServer));

static WebApplication CreateServer(string[] args)
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddPlatform();
    builder.AddWebConsole();
    builder.AddCrm();
    builder.AddLeads();
    builder.AddSessions();
    builder.AddGifts();

    var app = builder.Build();
    app.MapPlatform();
    app.MapWebConsole();
    app.MapCrm();
    app.MapLeads();
    app.MapSessions();
    app.MapGifts();
    return app;
}

public partial class Program;
