using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;

namespace Lockstep.Crm;

/// <summary>CRM: clients with their primary contact, one contact per phone per workspace.</summary>
public static class CrmModule
{
    public static WebApplicationBuilder AddCrm(this WebApplicationBuilder builder)
    {
        ApiJson.Add(builder.Services, CrmJson.Default);
        Problems.AddConflictCodes("phone_taken");
        Problems.AddConstraint("unique_phone_workspace", "phone_taken", "Another contact in this workspace already has this phone number");
        Problems.AddConstraint("contacts_one_primary_per_client", "primary_contact_exists", "A client has one primary contact");
        return builder;
    }

    public static WebApplication MapCrm(this WebApplication app)
    {
        app.MapClients();
        app.MapContacts();
        return app;
    }

    /// <summary>The module's command line: <c>lockstep contacts duplicates</c>.</summary>
    public static System.CommandLine.Command ContactsCommand() => DuplicatePhonesCommand.Create();
}
