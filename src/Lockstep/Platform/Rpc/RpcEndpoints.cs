using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Platform.Rpc;

/// <summary>
/// <c>/rest/v1/rpc/{function}</c>: PostgREST-compatible calls of the exposed schema's functions, so an
/// app's <c>supabase.rpc('fn', args)</c> works when pointed at Lockstep. Named JSON arguments, the
/// function's value as the body, PostgREST's error shape and statuses.
/// </summary>
public static class RpcEndpoints
{
    public const string Prefix = "/rest/v1";

    public static bool IsRpcPath(PathString path) => path.StartsWithSegments(Prefix);

    public static IEndpointRouteBuilder MapRpc(this IEndpointRouteBuilder app)
    {
        var rpc = app.MapGroup(Prefix + "/rpc").ExcludeFromDescription();
        rpc.MapPost("/{function}", CallWithBody);
        rpc.MapGet("/{function}", CallWithQuery);
        app.MapRpcBatch();
        return app;
    }

    private static async Task CallWithBody(string function, HttpContext context, FunctionCatalog catalog, FunctionCaller caller)
    {
        if (!SchemaAccepted(context, "Content-Profile", out var schema))
        {
            await SchemaNotExposed(context, schema);
            return;
        }

        string body;
        try
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await PostgrestErrors.WriteBodyTooLarge(context);
            return;
        }
        if (string.IsNullOrWhiteSpace(body))
        {
            body = "{}";
        }

        List<string> keys;
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                await InvalidJson(context);
                return;
            }
            keys = json.RootElement.EnumerateObject().Select(p => p.Name).Distinct(StringComparer.Ordinal).ToList();
        }
        catch (JsonException)
        {
            await InvalidJson(context);
            return;
        }

        await CallAsync(context, catalog, caller, function, keys, body, isPost: true);
    }

    private static async Task CallWithQuery(string function, HttpContext context, FunctionCatalog catalog, FunctionCaller caller)
    {
        if (!SchemaAccepted(context, "Accept-Profile", out var schema))
        {
            await SchemaNotExposed(context, schema);
            return;
        }
        var args = context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        await CallAsync(context, catalog, caller, function, args.Keys.ToList(), JsonSerializer.Serialize(args, RpcJson.Default.DictionaryStringString), isPost: false);
    }

    private static async Task CallAsync(
        HttpContext context, FunctionCatalog catalog, FunctionCaller caller, string name, List<string> keys, string body, bool isPost)
    {
        var overloads = catalog.Overloads(name);
        var matches = overloads
            .Where(f => (isPost && f.TakesWholeBody)
                || (keys.All(f.ArgNames.Contains) && f.RequiredArgs.All(keys.Contains)))
            .ToList();
        // A function with exactly the named arguments wins over the whole-body form.
        if (matches.Count > 1 && matches.Where(f => !f.TakesWholeBody).ToList() is { Count: 1 } named)
        {
            matches = named;
        }

        if (matches.Count == 0)
        {
            await NotFound(context, catalog, name, keys, overloads, isPost);
            return;
        }
        if (matches.Count > 1)
        {
            await PostgrestErrors.Write(context, 300, "PGRST203",
                $"Could not choose the best candidate function between: {string.Join(", ", matches.Select(m => m.Signature))}",
                hint: "Try renaming the parameters or the function itself in the database so function overloading can be resolved");
            return;
        }

        var function = matches[0];
        var token = context.Features.Get<VerifiedToken>();
        // Every exposed function acts for auth.uid(): without a user there is nothing it may do, and
        // PostgREST's 401 makes supabase-js report an error instead of a 200 carrying a refusal.
        if (token?.UserId is null)
        {
            await PostgrestErrors.NotSignedIn(context, function.Name);
            return;
        }
        if (!isPost && function.IsVolatile)
        {
            await PostgrestErrors.Write(context, 405, "25006", "cannot execute a volatile function in a read-only transaction",
                hint: "Call it with POST");
            return;
        }

        string? result;
        try
        {
            var sql = catalog.RoutedCallSql(function, keys) ?? catalog.CallSql(function, function.TakesWholeBody ? [] : keys);
            result = await caller.CallAsync(token, sql, [body], context.RequestAborted);
        }
        catch (PostgresException e)
        {
            await PostgrestErrors.Write(context, e, authenticated: token is not null);
            return;
        }
        catch (CommandTimeoutException)
        {
            // Lockstep's own limit, answered as the batch answers its time limit (PostgREST has no such limit).
            await PostgrestErrors.Write(context, 504, PostgresErrorCodes.QueryCanceled,
                "The call ran past the database command timeout and was cancelled",
                hint: "Lockstep:Database:CommandTimeoutSeconds sets the limit");
            return;
        }
        catch (NpgsqlException)
        {
            context.Response.Headers.RetryAfter = "1";
            await PostgrestErrors.Write(context, 503, "PGRST000", "Could not connect with the database");
            return;
        }

        if (function.IsVoid)
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(result ?? "null", context.RequestAborted);
    }

    /// <summary>PGRST202, worded exactly as PostgREST words it (arguments listed alphabetically).</summary>
    private static async Task NotFound(
        HttpContext context, FunctionCatalog catalog, string name, List<string> keys, IReadOnlyList<ExposedFunction> overloads, bool isPost)
    {
        var sorted = keys.Order(StringComparer.Ordinal).ToList();
        var qualified = $"{FunctionCatalog.ExposedSchema}.{name}";
        var message = sorted.Count == 0
            ? $"Could not find the function {qualified} without parameters in the schema cache"
            : $"Could not find the function {qualified}({string.Join(", ", sorted)}) in the schema cache";
        var searched = sorted.Count switch
        {
            0 => " without parameters",
            1 => $" with parameter {sorted[0]}",
            _ => $" with parameters {string.Join(", ", sorted)}",
        };
        var details = $"Searched for the function {qualified}{searched}"
            + (isPost ? " or with a single unnamed json/jsonb parameter" : "")
            + ", but no matches were found in the schema cache.";

        string? hint = null;
        if (overloads.Count > 0)
        {
            var closest = overloads[0];
            hint = $"Perhaps you meant to call the function {qualified}({string.Join(", ", closest.ArgNames.Order(StringComparer.Ordinal))})";
        }
        else
        {
            var similar = catalog.Names()
                .Select(n => (Name: n, Score: FunctionCatalog.Similarity(n, name)))
                .Where(s => s.Score >= 0.75)
                .OrderByDescending(s => s.Score)
                .FirstOrDefault();
            if (similar.Name is not null)
            {
                hint = $"Perhaps you meant to call the function {FunctionCatalog.ExposedSchema}.{similar.Name}";
            }
        }
        await PostgrestErrors.Write(context, 404, "PGRST202", message, details, hint);
    }

    private static bool SchemaAccepted(HttpContext context, string header, out string schema)
    {
        schema = context.Request.Headers[header].ToString();
        return schema.Length == 0 || schema == FunctionCatalog.ExposedSchema;
    }

    private static Task SchemaNotExposed(HttpContext context, string schema) =>
        PostgrestErrors.Write(context, 406, "PGRST106", $"The schema must be one of the following: {FunctionCatalog.ExposedSchema}");

    private static Task InvalidJson(HttpContext context) =>
        PostgrestErrors.Write(context, 400, "PGRST102", "Empty or invalid json");
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class RpcJson : System.Text.Json.Serialization.JsonSerializerContext;
