using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using NpgsqlTypes;

namespace Lockstep.Crm;

public static class ContactEndpoints
{
    public static IEndpointRouteBuilder MapContacts(this IEndpointRouteBuilder app)
    {
        var contacts = app.MapGroup("/api/workspaces/{workspaceId}").WithTags("Contacts").RequireAuthorization();

        contacts.MapPost("/contacts", AddContact).WithName("AddContact")
            .WithSummary("Add a contact that belongs to no client (add_contact)");
        contacts.MapPost("/contacts:upsert", UpsertContact).WithName("UpsertContactByPhone")
            .WithSummary("Find or create the contact with this phone; concurrent calls get one id (upsert_contact_by_phone)");
        contacts.MapPost("/contacts:import", ImportContacts).WithName("ImportContacts")
            .WithSummary("Import contacts from CSV (name,phone,email header) or a JSON array: per-row created, existing or rejected (import_contacts)")
            .Accepts<ImportRow[]>("application/json", "text/csv");
        return app;
    }

    private static async Task<Results<Ok<ContactAdded>, ProblemHttpResult>> AddContact(
        Guid workspaceId, NewContactRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallCrmAsync(context,
            "select public.add_contact(p_workspace_id => $1, p_client_id => null, p_name => $2, p_phone => $3, p_email => $4)",
            [workspaceId, request.Name, request.Phone, request.Email], CrmJson.Default.ContactAdded);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<ContactUpserted>, ProblemHttpResult>> UpsertContact(
        Guid workspaceId, UpsertContactRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallCrmAsync(context,
            "select public.upsert_contact_by_phone(p_workspace_id => $1, p_phone => $2, p_name => $3)",
            [workspaceId, request.Phone, request.Name], CrmJson.Default.ContactUpserted);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<ImportResult>, ProblemHttpResult>> ImportContacts(
        Guid workspaceId, HttpContext context, FunctionCaller db)
    {
        // The body is read here rather than bound: it is either CSV text or a JSON array.
        var mediaType = context.Request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        string rowsJson;
        if (mediaType == "text/csv")
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var parsed = ContactCsv.Parse(await reader.ReadToEndAsync(context.RequestAborted));
            if (parsed.Error is { } error)
            {
                return Problems.Problem(400, "invalid_csv", error);
            }
            rowsJson = JsonSerializer.Serialize(parsed.Rows, CrmJson.Default.ImportRowArray);
        }
        else if (mediaType == "application/json")
        {
            ImportRow[]? rows;
            try
            {
                rows = await JsonSerializer.DeserializeAsync(context.Request.Body, CrmJson.Default.ImportRowArray, context.RequestAborted);
            }
            catch (JsonException)
            {
                return Problems.Problem(400, "invalid_json", "The body must be a JSON array of {name, phone, email}");
            }
            if (rows is null)
            {
                return Problems.Problem(400, "invalid_json", "The body must be a JSON array of {name, phone, email}");
            }
            rowsJson = JsonSerializer.Serialize(rows, CrmJson.Default.ImportRowArray);
        }
        else
        {
            return Problems.Problem(415, "unsupported_media_type", "Send text/csv or application/json");
        }

        var outcome = await db.CallCrmAsync(context, "select public.import_contacts(p_workspace_id => $1, p_rows => $2)",
            [workspaceId, new Npgsql.NpgsqlParameter { Value = rowsJson, NpgsqlDbType = NpgsqlDbType.Jsonb }],
            CrmJson.Default.ImportResult);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record NewContactRequest(string Name, string? Phone = null, string? Email = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UpsertContactRequest(string Phone, string Name);

public sealed record ContactUpserted(Guid ContactId, bool Created);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ImportRow(string? Name = null, string? Phone = null, string? Email = null);

public sealed record ImportRowOutcome(int Row, string Outcome, Guid? ContactId = null, string? Code = null, string? Error = null);

public sealed record ImportResult(int Created, int Existing, int Rejected, ImportRowOutcome[] Rows);
