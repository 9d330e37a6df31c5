using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Platform.Workspaces;

namespace Lockstep.Platform.Http;

/// <summary>
/// Source-generated JSON for every request and response type of <c>/api</c>: snake_case names, nullable
/// annotations and required constructor parameters respected, so a missing or null field is a 400.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CreateWorkspaceRequest))]
[JsonSerializable(typeof(WorkspaceCreated))]
[JsonSerializable(typeof(WorkspaceSummary[]))]
[JsonSerializable(typeof(MemberList))]
[JsonSerializable(typeof(AddMemberRequest))]
[JsonSerializable(typeof(SetMemberRoleRequest))]
[JsonSerializable(typeof(MemberChanged))]
[JsonSerializable(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails))]
[JsonSerializable(typeof(Microsoft.AspNetCore.Http.HttpValidationProblemDetails))]
public sealed partial class ApiJson : JsonSerializerContext
{
    /// <summary>Adds a module's own source-generated context (declared with the same options as this one).</summary>
    public static void Add(IServiceCollection services, JsonSerializerContext context) =>
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(context));

    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        // The web defaults read "12" as 12; a number sent as a string is a wrong type (400), as the contexts declare.
        options.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        options.TypeInfoResolverChain.Insert(0, Default);
    }
}
