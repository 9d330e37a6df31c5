using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Platform.Rpc;

/// <summary>
/// An error answered for a batch, in PostgREST's shape plus the failing call's <c>index</c> (null when
/// the body as a whole is at fault) and, for a refusal, the function's own <c>{"success": false, ...}</c> value.
/// </summary>
public sealed record BatchError(int Status, string Code, string Message, int? Index, string? Details = null, string? Hint = null)
{
    public JsonNode? Refusal { get; init; }

    public bool RetryAfter { get; init; }

    public static BatchError Invalid(string message, int? index = null) => new(400, "batch_invalid", message, index);
}

/// <summary>A place in a call's arguments holding <c>{"$ref": "&lt;index&gt;.&lt;path&gt;"}</c>.</summary>
public sealed record BatchRef(JsonNode Parent, string? Key, int ArrayIndex, string Location, string Text, int Target, string[] Path);

/// <summary>One call of a batch, validated: its function resolved in the catalog and its references found.</summary>
public sealed record BatchCall(int Index, ExposedFunction Function, JsonObject Args, IReadOnlyList<BatchRef> Refs);

/// <summary>
/// Reads and validates <c>{"calls": [{"fn": "...", "args": {...}}, ...]}</c> before anything runs: the
/// shape, the number of calls, each function in the exposed schema with its argument names, and each
/// <c>$ref</c> pointing to an earlier call. A reference's field is checked when that call has run.
/// </summary>
public static class RpcBatch
{
    public const string RefKey = "$ref";

    public static (List<BatchCall>? Calls, BatchError? Error) Parse(string body, int maxCalls, FunctionCatalog catalog)
    {
        JsonNode? root;
        try
        {
            // Duplicate names are refused while parsing: which of two "p_client_id"s would a call get?
            root = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            return (null, new BatchError(400, "PGRST102", "Empty or invalid json", null));
        }
        if (root is not JsonObject batch)
        {
            return (null, BatchError.Invalid("The body must be an object: {\"calls\": [{\"fn\": \"...\", \"args\": {...}}]}"));
        }
        if (batch.Select(p => p.Key).FirstOrDefault(k => k != "calls") is { } unknown)
        {
            return (null, BatchError.Invalid($"Unknown field '{unknown}': a batch holds only 'calls'"));
        }
        if (batch["calls"] is not JsonArray calls)
        {
            return (null, BatchError.Invalid("'calls' must be an array of {\"fn\": \"...\", \"args\": {...}}"));
        }
        if (calls.Count == 0)
        {
            return (null, BatchError.Invalid("'calls' must hold at least one call"));
        }
        if (calls.Count > maxCalls)
        {
            return (null, new BatchError(400, "batch_too_many_calls", $"A batch holds at most {maxCalls} calls; this one has {calls.Count}", null));
        }

        var parsed = new List<BatchCall>(calls.Count);
        for (var i = 0; i < calls.Count; i++)
        {
            var (call, error) = ParseCall(calls[i], i, catalog);
            if (error is not null)
            {
                return (null, error);
            }
            parsed.Add(call!);
        }
        return (parsed, null);
    }

    private static (BatchCall? Call, BatchError? Error) ParseCall(JsonNode? node, int index, FunctionCatalog catalog)
    {
        var at = $"calls[{index}]";
        if (node is not JsonObject call)
        {
            return (null, BatchError.Invalid($"{at} must be an object {{\"fn\": \"...\", \"args\": {{...}}}}", index));
        }
        if (call.Select(p => p.Key).FirstOrDefault(k => k is not ("fn" or "args")) is { } unknown)
        {
            return (null, BatchError.Invalid($"{at} has an unknown field '{unknown}': a call holds 'fn' and 'args'", index));
        }
        if (call["fn"] is not JsonValue fnValue || !fnValue.TryGetValue<string>(out var name) || name.Length == 0)
        {
            return (null, BatchError.Invalid($"{at}.fn is required: the name of a function", index));
        }
        JsonObject args;
        switch (call["args"])
        {
            case null:
                args = [];
                break;
            case JsonObject given:
                args = given;
                break;
            default:
                return (null, BatchError.Invalid($"{at}.args must be an object of named arguments", index));
        }

        var refs = new List<BatchRef>();
        if (FindRefs(args, $"{at}.args", refs) is { } refShape)
        {
            return (null, new BatchError(400, "batch_ref_invalid", refShape, index));
        }
        foreach (var reference in refs)
        {
            if (reference.Target >= index)
            {
                return (null, new BatchError(400, "batch_ref_invalid",
                    $"{reference.Location}: $ref \"{reference.Text}\" points to call {reference.Target}, which does not run before call {index}", index));
            }
        }

        var keys = args.Select(p => p.Key).ToList();
        var overloads = catalog.Overloads(name);
        var matches = overloads
            .Where(f => f.TakesWholeBody || (keys.All(f.ArgNames.Contains) && f.RequiredArgs.All(keys.Contains)))
            .ToList();
        if (matches.Count > 1 && matches.Where(f => !f.TakesWholeBody).ToList() is { Count: 1 } named)
        {
            matches = named;
        }
        if (matches.Count == 0)
        {
            var qualified = $"{FunctionCatalog.ExposedSchema}.{name}";
            var sorted = string.Join(", ", keys.Order(StringComparer.Ordinal));
            var hint = overloads.Count > 0
                ? $"Perhaps you meant to call the function {qualified}({string.Join(", ", overloads[0].ArgNames.Order(StringComparer.Ordinal))})"
                : null;
            return (null, new BatchError(404, "PGRST202",
                $"{at}: could not find the function {qualified}({sorted}) in the schema cache", index,
                $"Searched for the function {qualified} with exactly these named arguments in the exposed schema, but no matches were found.", hint));
        }
        if (matches.Count > 1)
        {
            return (null, new BatchError(300, "PGRST203",
                $"{at}: could not choose the best candidate function between: {string.Join(", ", matches.Select(m => m.Signature))}", index));
        }
        return (new BatchCall(index, matches[0], args, refs), null);
    }

    /// <summary>Collects every <c>{"$ref": ...}</c> object under <paramref name="node"/>; returns a message when one is malformed.</summary>
    private static string? FindRefs(JsonNode node, string location, List<BatchRef> refs)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToList())
                {
                    if (child is null)
                    {
                        continue;
                    }
                    var here = $"{location}.{key}";
                    if (IsRef(child))
                    {
                        if (ParseRef(child, obj, key, -1, here, refs) is { } error)
                        {
                            return error;
                        }
                    }
                    else if (FindRefs(child, here, refs) is { } error)
                    {
                        return error;
                    }
                }
                return null;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is not { } child)
                    {
                        continue;
                    }
                    var here = $"{location}[{i}]";
                    if (IsRef(child))
                    {
                        if (ParseRef(child, array, null, i, here, refs) is { } error)
                        {
                            return error;
                        }
                    }
                    else if (FindRefs(child, here, refs) is { } error)
                    {
                        return error;
                    }
                }
                return null;
            default:
                return null;
        }
    }

    private static bool IsRef(JsonNode node) => node is JsonObject obj && obj.ContainsKey(RefKey);

    private static string? ParseRef(JsonNode node, JsonNode parent, string? key, int arrayIndex, string location, List<BatchRef> refs)
    {
        var obj = (JsonObject)node;
        if (obj.Count != 1 || obj[RefKey] is not JsonValue value || !value.TryGetValue<string>(out var text))
        {
            return $"{location}: a reference is exactly {{\"$ref\": \"<index>.<path>\"}}";
        }
        var parts = text.Split('.');
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var target) || parts.Skip(1).Any(p => p.Length == 0))
        {
            return $"{location}: $ref \"{text}\" is not \"<index>.<path>\" (e.g. \"0.client_id\")";
        }
        refs.Add(new BatchRef(parent, key, arrayIndex, location, text, target, parts[1..]));
        return null;
    }

    /// <summary>Puts the referenced values of earlier results in place of the call's references; an error names a missing one.</summary>
    public static BatchError? Resolve(BatchCall call, IReadOnlyList<JsonNode?> results)
    {
        foreach (var reference in call.Refs)
        {
            var node = results[reference.Target];
            foreach (var segment in reference.Path)
            {
                JsonNode? child = null;
                var found = node switch
                {
                    JsonObject obj => obj.TryGetPropertyValue(segment, out child),
                    JsonArray array when int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < array.Count
                        => (child = array[i]) is var _,
                    _ => false,
                };
                if (!found)
                {
                    return new BatchError(400, "batch_ref_missing",
                        $"{reference.Location}: $ref \"{reference.Text}\" names no value in the result of call {reference.Target}", call.Index);
                }
                node = child;
            }
            var value = node?.DeepClone();
            if (reference.Key is not null)
            {
                reference.Parent[reference.Key] = value;
            }
            else
            {
                reference.Parent[reference.ArrayIndex] = value;
            }
        }
        return null;
    }
}
