using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Platform.Audit;

/// <summary>The audit trail of a workspace (platform.audit_log): every recorded change of one entity; owners only.</summary>
public static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAudit(this IEndpointRouteBuilder app)
    {
        var audit = app.MapGroup("/api/workspaces/{workspaceId}/audit").WithTags("Audit").RequireAuthorization();
        audit.MapGet("/", GetAuditLog).WithName("GetAuditLog")
            .WithSummary("Recorded changes, newest first: ?entity_table=crm.clients&entity_id=… for one entity; ?limit=, ?before=; owners only (get_audit_log)");
        return app;
    }

    private static async Task<Results<Ok<AuditLog>, ProblemHttpResult>> GetAuditLog(
        Guid workspaceId, HttpContext context, FunctionCaller db,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "entity_table")] string? entityTable = null,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "entity_id")] string? entityId = null,
        int? limit = null, string? before = null)
    {
        var outcome = await db.CallAsync(context,
            "select public.get_audit_log(p_workspace_id => $1, p_entity_table => $2, p_entity_id => $3, p_limit => $4, p_before => $5)",
            [workspaceId, entityTable, entityId, limit ?? 50, before], AuditJson.Default.AuditLog);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }
}

public sealed record AuditEntry(
    long Id, DateTimeOffset At, Guid? ActorId, string Operation, string Action, string EntityTable, string EntityId,
    JsonElement? Before, JsonElement? After);

public sealed record AuditLog(AuditEntry[] Entries, string? NextBefore);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(AuditLog))]
public sealed partial class AuditJson : JsonSerializerContext;
