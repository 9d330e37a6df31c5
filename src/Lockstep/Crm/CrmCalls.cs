using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;

namespace Lockstep.Crm;

/// <summary>
/// Like <see cref="FunctionResults.CallAsync{T}"/>, but a <c>phone_taken</c> refusal keeps the existing
/// contact's id in the problem (<c>contact_id</c>), so a client can link to it instead of retrying.
/// </summary>
internal static class CrmCalls
{
    public static async Task<Outcome<T>> CallCrmAsync<T>(
        this FunctionCaller caller, HttpContext context, string sql, IReadOnlyList<object?> args, JsonTypeInfo<T> result)
    {
        var json = await caller.CallAsync(context.Features.Get<VerifiedToken>(), sql, args, context.RequestAborted)
            ?? throw new InvalidOperationException($"The function in '{sql}' returned null.");
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False)
        {
            var code = root.TryGetProperty("code", out var c) ? c.GetString() ?? "refused" : "refused";
            var problem = Problems.Refusal(code, root.TryGetProperty("error", out var e) ? e.GetString() : null);
            if (root.TryGetProperty("contact_id", out var id) && id.ValueKind == JsonValueKind.String)
            {
                problem.ProblemDetails.Extensions["contact_id"] = id.GetString();
            }
            return new Outcome<T>(default, problem);
        }
        return new Outcome<T>(root.Deserialize(result), null);
    }
}
