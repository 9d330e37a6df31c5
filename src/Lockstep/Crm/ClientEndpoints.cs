using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Crm;

public static class ClientEndpoints
{
    public static IEndpointRouteBuilder MapClients(this IEndpointRouteBuilder app)
    {
        var clients = app.MapGroup("/api/workspaces/{workspaceId}/clients").WithTags("Clients").RequireAuthorization();

        clients.MapPost("/", CreateClient).WithName("CreateClientWithContact")
            .WithSummary("Create a client together with its primary contact: both or neither (create_client_with_contact)");
        clients.MapGet("/", ListClients).WithName("ListClients")
            .WithSummary("Clients with their primary contact, paged; search by name or phone digits (list_clients)");
        clients.MapGet("/{clientId}", GetClient).WithName("GetClient")
            .WithSummary("One client with all its contacts (get_client)");
        clients.MapPost("/{clientId}/contacts", AddClientContact).WithName("AddClientContact")
            .WithSummary("Add a contact to a client, optionally as its new primary (add_contact)");
        clients.MapPut("/{clientId}/primary-contact", SetPrimaryContact).WithName("SetPrimaryContact")
            .WithSummary("Make one of the client's contacts its primary contact (set_primary_contact)");
        return app;
    }

    private static async Task<Results<Created<ClientCreated>, ProblemHttpResult>> CreateClient(
        Guid workspaceId, CreateClientRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallCrmAsync(context,
            """
            select public.create_client_with_contact(p_workspace_id => $1, p_client_name => $2, p_contact_name => $3,
              p_contact_phone => $4, p_contact_email => $5, p_client_notes => $6)
            """,
            [workspaceId, request.ClientName, request.ContactName, request.ContactPhone, request.ContactEmail, request.ClientNotes],
            CrmJson.Default.ClientCreated);
        return outcome.Succeeded
            ? TypedResults.Created($"/api/workspaces/{workspaceId}/clients/{outcome.Value!.ClientId}", outcome.Value)
            : outcome.Problem!;
    }

    private static async Task<Results<Ok<ClientPage>, ProblemHttpResult>> ListClients(
        Guid workspaceId, HttpContext context, FunctionCaller db, string? search = null, int limit = 50, int offset = 0)
    {
        var outcome = await db.CallCrmAsync(context,
            "select public.list_clients(p_workspace_id => $1, p_search => $2, p_limit => $3, p_offset => $4)",
            [workspaceId, search, limit, offset], CrmJson.Default.ClientPage);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<ClientDetail>, ProblemHttpResult>> GetClient(
        Guid workspaceId, Guid clientId, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallCrmAsync(context, "select public.get_client(p_workspace_id => $1, p_client_id => $2)",
            [workspaceId, clientId], CrmJson.Default.ClientDetail);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<ContactAdded>, ProblemHttpResult>> AddClientContact(
        Guid workspaceId, Guid clientId, AddContactRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallCrmAsync(context,
            """
            select public.add_contact(p_workspace_id => $1, p_client_id => $2, p_name => $3, p_phone => $4,
              p_email => $5, p_is_primary => $6)
            """,
            [workspaceId, clientId, request.Name, request.Phone, request.Email, request.IsPrimary], CrmJson.Default.ContactAdded);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<PrimaryContactSet>, ProblemHttpResult>> SetPrimaryContact(
        Guid workspaceId, Guid clientId, SetPrimaryContactRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallCrmAsync(context,
            "select public.set_primary_contact(p_client_id => $1, p_contact_id => $2, p_workspace_id => $3)",
            [clientId, request.ContactId, workspaceId], CrmJson.Default.PrimaryContactSet);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateClientRequest(
    string ClientName, string ContactName, string? ContactPhone = null, string? ContactEmail = null, string? ClientNotes = null);

public sealed record ClientCreated(Guid ClientId, Guid ContactId);

public sealed record Contact(
    Guid ContactId, Guid? ClientId, string Name, string? Phone, string? PhoneE164, string? Email, bool IsPrimary, DateTimeOffset CreatedAt);

public sealed record ClientSummary(Guid ClientId, string Name, string? Notes, DateTimeOffset CreatedAt, Contact? PrimaryContact);

public sealed record ClientPage(long Total, ClientSummary[] Clients);

public sealed record ClientDetail(Guid ClientId, string Name, string? Notes, DateTimeOffset CreatedAt, Contact[] Contacts);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AddContactRequest(string Name, string? Phone = null, string? Email = null, bool IsPrimary = false);

public sealed record ContactAdded(Guid ContactId, Guid? ClientId, bool IsPrimary);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record SetPrimaryContactRequest(Guid ContactId);

public sealed record PrimaryContactSet(Guid ClientId, Guid ContactId);
