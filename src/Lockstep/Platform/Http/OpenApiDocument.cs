using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Lockstep.Platform.Http;

/// <summary>The OpenAPI document at /openapi/v1.json: title, and the bearer token every /api route takes.</summary>
public static class OpenApiDocument
{
    public static void Configure(OpenApiOptions options) => options.AddDocumentTransformer((document, _, _) =>
    {
        document.Info.Title = "Lockstep API";
        document.Info.Description = "Atomic business operations over PostgreSQL. Errors are RFC 9457 problem details with a stable `code`.";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes["Bearer"] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "HS256 JWT with Supabase-style claims (sub = user uuid, aud = authenticated); `./lockstep token --user <uuid>` mints one.",
        };
        document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("Bearer", document)] = [] }];
        return Task.CompletedTask;
    });
}
