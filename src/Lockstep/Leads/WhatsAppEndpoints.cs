using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using NpgsqlTypes;

namespace Lockstep.Leads;

public static class WhatsAppEndpoints
{
    public static IEndpointRouteBuilder MapWhatsAppEndpoints(this IEndpointRouteBuilder app)
    {
        var workspace = app.MapGroup("/api/workspaces/{workspaceId}/whatsapp").WithTags("WhatsApp").RequireAuthorization();

        workspace.MapPut("/connection", Connect).WithName("ConnectWhatsApp")
            .WithSummary("Connect the workspace's WhatsApp Business number once the Cloud API confirms the access token may use it "
                + "(422 whatsapp_number_not_verified, 503 whatsapp_unavailable); owners and admins; the token is never returned (leads.store_whatsapp_connection)");
        workspace.MapPost("/", Send).WithName("SendWhatsAppMessage")
            .WithSummary("Queue a WhatsApp text or template: message, outbox entry and optional lead + conversation in one transaction; "
                + "a text outside the customer's 24-hour window is 422 outside_service_window (send_whatsapp_message)");
        return app;
    }

    /// <summary>
    /// The Cloud API is asked first, so a workspace cannot register a number its token does not own and
    /// receive that business's messages; then the server-only storing function, which checks the caller's
    /// role and the number's other workspaces. Nothing is stored unless both agree.
    /// </summary>
    private static async Task<Results<Ok<WhatsAppConnected>, ProblemHttpResult>> Connect(
        Guid workspaceId, ConnectWhatsAppRequest request, HttpContext context, FunctionCaller db, WhatsAppCloudApi cloudApi)
    {
        // The id becomes part of the Cloud API's URL, so only digits are sent (the storing function refuses the rest too).
        if (!WhatsAppCloudApi.IsPhoneNumberId(request.PhoneNumberId))
        {
            return Problems.Refusal("invalid_phone_number_id", "A phone number id is the digits Meta shows for the number");
        }
        var check = await cloudApi.CheckPhoneNumberAsync(request.PhoneNumberId, request.AccessToken, context.RequestAborted);
        if (check.Verdict == PhoneNumberVerdict.Unavailable)
        {
            context.Response.Headers.RetryAfter = "5";
            return Problems.Problem(StatusCodes.Status503ServiceUnavailable, "whatsapp_unavailable",
                "The WhatsApp Cloud API could not confirm the number right now; nothing was stored, try again shortly");
        }
        if (check.Verdict == PhoneNumberVerdict.NotOwned)
        {
            return Problems.Problem(StatusCodes.Status422UnprocessableEntity, "whatsapp_number_not_verified",
                $"The WhatsApp Cloud API did not confirm that this access token may use phone number id {request.PhoneNumberId} ({check.Reason}); nothing was stored");
        }

        var outcome = await db.CallAsync(context,
            "select leads.store_whatsapp_connection(p_workspace_id => $1, p_phone_number_id => $2, p_access_token => $3)",
            [workspaceId, request.PhoneNumberId, request.AccessToken], LeadsJson.Default.WhatsAppConnected);
        return outcome.Succeeded
            ? TypedResults.Ok(outcome.Value! with { DisplayPhoneNumber = check.DisplayPhoneNumber, VerifiedName = check.VerifiedName })
            : outcome.Problem!;
    }

    private static async Task<Results<Accepted<WhatsAppQueued>, ProblemHttpResult>> Send(
        Guid workspaceId, SendWhatsAppRequest request, HttpContext context, FunctionCaller db)
    {
        if ((request.Message is null) == (request.Template is null))
        {
            return Problems.Problem(400, "message_or_template",
                "A send has exactly one of message (a free-form text) or template ({name, language, parameters})");
        }
        // Nullable annotations do not reach array elements: [null] deserializes.
        if (request.Template?.Parameters?.Any(parameter => parameter is null) == true)
        {
            return Problems.Problem(400, "invalid_field", "Template parameters are texts", "template.parameters");
        }
        var template = request.Template is { } t
            ? new NpgsqlParameter
            {
                Value = JsonSerializer.Serialize(t with { Parameters = t.Parameters ?? [] }, LeadsJson.Default.MessageTemplate),
                NpgsqlDbType = NpgsqlDbType.Jsonb,
            }
            : new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Jsonb };
        var outcome = await db.CallAsync(context, """
            select public.send_whatsapp_message(p_workspace_id => $1, p_to => $2, p_message => $3, p_create_lead => $4,
              p_customer_name => $5, p_lead_type => $6, p_template => $7)
            """,
            [workspaceId, request.To, request.Message, request.CreateLead, request.CustomerName, request.LeadType ?? "inquiry", template],
            LeadsJson.Default.WhatsAppQueued);
        return outcome.Succeeded
            ? TypedResults.Accepted($"/api/workspaces/{workspaceId}/conversations/{outcome.Value!.ConversationId}/messages", outcome.Value)
            : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ConnectWhatsAppRequest(string PhoneNumberId, string AccessToken);

/// <summary>The stored number, with its display number and verified business name as the Cloud API gave them.</summary>
public sealed record WhatsAppConnected(string PhoneNumberId, string? DisplayPhoneNumber = null, string? VerifiedName = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record SendWhatsAppRequest(
    string To, string? Message = null, MessageTemplate? Template = null, bool CreateLead = false, string? CustomerName = null,
    string? LeadType = "inquiry");

/// <summary>An approved template by name and language code, with the texts for its body's {{1}}, {{2}}, ...</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record MessageTemplate(string Name, string Language, string[]? Parameters = null);

/// <summary>Why the last attempt failed: the Cloud API's error code (or http_503, timeout, network_error) and its reason.</summary>
public sealed record DeliveryError(string? Code, string Message);

public sealed record WhatsAppQueued(Guid MessageId, Guid ConversationId, Guid? LeadId, string Status, int Attempts, DeliveryError? LastError,
    DateTimeOffset? NextAttemptAt, MessageTemplate? Template);
