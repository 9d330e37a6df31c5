using System.Text.Json.Serialization;

namespace Lockstep.Leads;

/// <summary>Source-generated JSON for the Leads module (same options as ApiJson).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CreateLeadRequest))]
[JsonSerializable(typeof(LeadCreated))]
[JsonSerializable(typeof(CreateLeadsBatchRequest))]
[JsonSerializable(typeof(LeadsBatchResult))]
[JsonSerializable(typeof(LeadList))]
[JsonSerializable(typeof(ConversationList))]
[JsonSerializable(typeof(MessageList))]
[JsonSerializable(typeof(ConnectWhatsAppRequest))]
[JsonSerializable(typeof(WhatsAppConnected))]
[JsonSerializable(typeof(SendWhatsAppRequest))]
[JsonSerializable(typeof(WhatsAppQueued))]
[JsonSerializable(typeof(MessageTemplate))]
[JsonSerializable(typeof(CloudMessage))]
[JsonSerializable(typeof(OutboxClaim[]))]
public sealed partial class LeadsJson : JsonSerializerContext;
