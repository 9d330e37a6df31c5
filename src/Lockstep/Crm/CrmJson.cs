using System.Text.Json.Serialization;

namespace Lockstep.Crm;

/// <summary>Source-generated JSON for the CRM routes (same options as ApiJson).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CreateClientRequest))]
[JsonSerializable(typeof(ClientCreated))]
[JsonSerializable(typeof(ClientPage))]
[JsonSerializable(typeof(ClientDetail))]
[JsonSerializable(typeof(AddContactRequest))]
[JsonSerializable(typeof(NewContactRequest))]
[JsonSerializable(typeof(ContactAdded))]
[JsonSerializable(typeof(SetPrimaryContactRequest))]
[JsonSerializable(typeof(PrimaryContactSet))]
[JsonSerializable(typeof(UpsertContactRequest))]
[JsonSerializable(typeof(ContactUpserted))]
[JsonSerializable(typeof(ImportRow[]))]
[JsonSerializable(typeof(ImportResult))]
public sealed partial class CrmJson : JsonSerializerContext;
