using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Lockstep.Platform.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Leads;

public static class WhatsAppEndpoints
{
    public static IEndpointRouteBuilder MapWhatsAppEndpoints(this IEndpointRouteBuilder app)
    {
        var workspace = app.MapGroup("/api/workspaces/{workspaceId}/whatsapp").WithTags("WhatsApp").RequireAuthorization();

        workspace.MapPut("/connection", Connect).WithName("ConnectWhatsApp")
            .WithSummary("Connect the workspace's WhatsApp Business number; owners and admins; the token is never returned (connect_whatsapp)");
        workspace.MapPost("/", Send).WithName("SendWhatsAppMessage")
            .WithSummary("Queue a WhatsApp text: message, outbox entry and optional lead + conversation in one transaction (send_whatsapp_message)");
        return app;
    }

    private static async Task<Results<Ok<WhatsAppConnected>, ProblemHttpResult>> Connect(
        Guid workspaceId, ConnectWhatsAppRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context,
            "select public.connect_whatsapp(p_workspace_id => $1, p_phone_number_id => $2, p_access_token => $3)::text",
            [workspaceId, request.PhoneNumberId, request.AccessToken], LeadsJson.Default.WhatsAppConnected);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value!) : outcome.Problem!;
    }

    private static async Task<Results<Accepted<WhatsAppQueued>, ProblemHttpResult>> Send(
        Guid workspaceId, SendWhatsAppRequest request, HttpContext context, FunctionCaller db)
    {
        var outcome = await db.CallAsync(context, """
            select public.send_whatsapp_message(p_workspace_id => $1, p_to => $2, p_message => $3, p_create_lead => $4,
              p_customer_name => $5, p_lead_type => $6)::text
            """,
            [workspaceId, request.To, request.Message, request.CreateLead, request.CustomerName, request.LeadType ?? "inquiry"],
            LeadsJson.Default.WhatsAppQueued);
        return outcome.Succeeded
            ? TypedResults.Accepted($"/api/workspaces/{workspaceId}/conversations/{outcome.Value!.ConversationId}/messages", outcome.Value)
            : outcome.Problem!;
    }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ConnectWhatsAppRequest(string PhoneNumberId, string AccessToken);

public sealed record WhatsAppConnected(string PhoneNumberId);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record SendWhatsAppRequest(string To, string Message, bool CreateLead = false, string? CustomerName = null, string? LeadType = "inquiry");

public sealed record WhatsAppQueued(Guid MessageId, Guid ConversationId, Guid? LeadId);
