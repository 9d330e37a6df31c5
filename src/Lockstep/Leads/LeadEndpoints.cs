using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Lockstep.Leads;

public static class LeadEndpoints
{
    public const int MaxBatchRows = 100;

    private const string CreateLeadSql = """
        select public.create_lead_with_conversation(p_workspace_id => $1, p_customer_phone => $2, p_customer_name => $3,
          p_lead_type => $4, p_details => $5, p_conversation_status => $6, p_lead_status => $7)
        """;

    public static IEndpointRouteBuilder MapLeadEndpoints(this IEndpointRouteBuilder app)
    {
        var workspace = app.MapGroup("/api/workspaces/{workspaceId}").WithTags("Leads").RequireAuthorization();

        workspace.MapPost("/leads", CreateLead).WithName("CreateLead")
            .WithSummary("Create a lead and its conversation together; the contact is found or created by phone (create_lead_with_conversation)");
        workspace.MapPost("/leads:batch", CreateLeadsBatch).WithName("CreateLeadsBatch")
            .WithSummary($"Create up to {MaxBatchRows} leads; each row is atomic on its own and gets its own outcome");
        workspace.MapGet("/leads", ListLeads).WithName("ListLeads")
            .WithSummary("Leads of a workspace, newest first; ?status=, ?limit=, ?before= (list_leads)");
        workspace.MapGet("/conversations", ListConversations).WithName("ListConversations")
            .WithSummary("Conversations of a workspace, most recent activity first; ?status=, ?limit=, ?before= (list_conversations)");
        workspace.MapGet("/conversations/{conversationId}/messages", ListMessages).WithName("ListMessages")
            .WithSummary("Messages of a conversation, newest first; ?limit=, ?before= (list_messages)");
        return app;
    }

    private static async Task<Results<Ok<LeadCreated>, ProblemHttpResult>> CreateLead(
        Guid workspaceId, CreateLeadRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, CreateLeadSql, Args(workspaceId, request), LeadsJson.Default.LeadCreated);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<LeadsBatchResult>, ProblemHttpResult>> CreateLeadsBatch(
        Guid workspaceId, CreateLeadsBatchRequest request, HttpContext context, FunctionCaller db)
    {
        if (request.Leads.Length is 0 or > MaxBatchRows)
        {
            return Problems.Problem(400, "invalid_batch_size", $"A batch has 1 to {MaxBatchRows} leads", "leads");
        }
        // Nullable annotations do not reach array elements: [null] deserializes.
        if (request.Leads.Any(lead => lead is null))
        {
            return Problems.Problem(400, "invalid_batch_row", "Each lead in a batch is an object", "leads");
        }
        var results = new List<LeadBatchRow>(request.Leads.Length);
        for (var i = 0; i < request.Leads.Length; i++)
        {
            // One call per row, each undone alone when it fails: its own transaction, or (with an
            // Idempotency-Key) a savepoint in the request's transaction, so every outcome answered is
            // what commits, and what the key stores.
            try
            {
                var outcome = await db.CallIsolatedAsync(context, CreateLeadSql, Args(workspaceId, request.Leads[i]), LeadsJson.Default.LeadCreated);
                results.Add(outcome.Succeeded
                    ? new LeadBatchRow(i, true, outcome.Value!.LeadId, outcome.Value.ConversationId)
                    : new LeadBatchRow(i, false, Code: CodeOf(outcome.Problem!), Error: outcome.Problem!.ProblemDetails.Detail));
            }
            catch (Exception e) when (e is PostgresException or CommandTimeoutException)
            {
                var problem = e is PostgresException pg ? Problems.FromPostgres(pg) : Problems.DatabaseTimeout();
                results.Add(new LeadBatchRow(i, false, Code: CodeOf(problem), Error: problem.ProblemDetails.Detail));
            }
        }
        if (results.All(r => !r.Success) && results.All(r => r.Code == "workspace_not_found"))
        {
            return Problems.Refusal("workspace_not_found", "Workspace not found");
        }
        return TypedResults.Ok(new LeadsBatchResult(results.Count(r => r.Success), results.Count(r => !r.Success), [.. results]));
    }

    private static async Task<Results<Ok<LeadList>, ProblemHttpResult>> ListLeads(
        Guid workspaceId, string? status, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.list_leads(p_workspace_id => $1, p_status => $2, p_limit => $3, p_before => $4)",
            [workspaceId, status, limit ?? 50, before], LeadsJson.Default.LeadList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<ConversationList>, ProblemHttpResult>> ListConversations(
        Guid workspaceId, string? status, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.list_conversations(p_workspace_id => $1, p_status => $2, p_limit => $3, p_before => $4)",
            [workspaceId, status, limit ?? 50, before], LeadsJson.Default.ConversationList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Ok<MessageList>, ProblemHttpResult>> ListMessages(
        Guid workspaceId, Guid conversationId, int? limit, string? before, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.list_messages(p_workspace_id => $1, p_conversation_id => $2, p_limit => $3, p_before => $4)",
            [workspaceId, conversationId, limit ?? 50, before], LeadsJson.Default.MessageList);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static object?[] Args(Guid workspaceId, CreateLeadRequest r) =>
        [workspaceId, r.CustomerPhone, r.CustomerName, r.Type, r.Details, r.ConversationStatus ?? "active", r.Status ?? "new"];

    private static string CodeOf(ProblemHttpResult problem) =>
        problem.ProblemDetails.Extensions.TryGetValue("code", out var code) ? code?.ToString() ?? "refused" : "refused";
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateLeadRequest(
    string CustomerPhone, string CustomerName, string Type, string? Details = null,
    string? ConversationStatus = "active", string? Status = "new");

public sealed record LeadCreated(Guid LeadId, Guid ConversationId);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateLeadsBatchRequest(CreateLeadRequest[] Leads);

public sealed record LeadBatchRow(int Index, bool Success, Guid? LeadId = null, Guid? ConversationId = null, string? Code = null, string? Error = null);

public sealed record LeadsBatchResult(int Created, int Failed, LeadBatchRow[] Results);

public sealed record Lead(Guid LeadId, Guid ContactId, string Type, string Status, string? Details, string Source,
    Guid? CreatedBy, Guid? AssignedTo, DateTimeOffset CreatedAt);

public sealed record LeadList(Lead[] Leads, string? NextBefore);

public sealed record Conversation(Guid ConversationId, Guid ContactId, Guid? LeadId, string Status, DateTimeOffset CreatedAt, DateTimeOffset? LastMessageAt);

public sealed record ConversationList(Conversation[] Conversations, string? NextBefore);

public sealed record Message(Guid MessageId, string Direction, string Body, string Status, string? Error, string? WaMessageId,
    DateTimeOffset CreatedAt, DateTimeOffset? SentAt, DateTimeOffset? DeliveredAt, DateTimeOffset? ReadAt, DateTimeOffset? FailedAt,
    int Attempts, DeliveryError? LastError, DateTimeOffset? NextAttemptAt, MessageTemplate? Template);

public sealed record MessageList(Message[] Messages, string? NextBefore);
