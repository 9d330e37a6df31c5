using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lockstep.Platform.Http;

/// <summary>What a function returned: its success payload, or the problem its refusal maps to.</summary>
public readonly record struct Outcome<T>(T? Value, ProblemHttpResult? Problem)
{
    public bool Succeeded => Problem is null;
}

/// <summary>Calls a <c>{success, ...}</c> function for an <c>/api</c> endpoint as the request's caller.</summary>
public static class FunctionResults
{
    public static async Task<Outcome<T>> CallAsync<T>(
        this FunctionCaller caller, HttpContext context, string sql, IReadOnlyList<object?> args, JsonTypeInfo<T> result) =>
        Read(await caller.CallAsync(context.Features.Get<VerifiedToken>(), sql, args, context.RequestAborted), sql, result);

    /// <summary>As <see cref="CallAsync{T}"/>, through <see cref="FunctionCaller.CallIsolatedAsync"/>: a failure undoes this call only.</summary>
    public static async Task<Outcome<T>> CallIsolatedAsync<T>(
        this FunctionCaller caller, HttpContext context, string sql, IReadOnlyList<object?> args, JsonTypeInfo<T> result) =>
        Read(await caller.CallIsolatedAsync(context.Features.Get<VerifiedToken>(), sql, args, context.RequestAborted), sql, result);

    private static Outcome<T> Read<T>(string? json, string sql, JsonTypeInfo<T> result)
    {
        if (json is null)
        {
            throw new InvalidOperationException($"The function in '{sql}' returned null.");
        }
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False)
        {
            var code = root.TryGetProperty("code", out var c) ? c.GetString() ?? "refused" : "refused";
            var error = root.TryGetProperty("error", out var e) ? e.GetString() : null;
            return new Outcome<T>(default, Problems.Refusal(code, error));
        }
        return new Outcome<T>(root.Deserialize(result), null);
    }
}
