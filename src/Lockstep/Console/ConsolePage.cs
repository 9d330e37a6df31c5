using System.Text.Json;
using Microsoft.AspNetCore.Components;

namespace Lockstep.WebConsole;

/// <summary>
/// What every console screen shares: the session, and the refusal sentence of the last call shown in
/// place of raw JSON (<see cref="Error"/>) or what the database returned (<see cref="Returned"/>).
/// </summary>
public abstract class ConsolePage : ComponentBase
{
    [Inject] public ConsoleSession Session { get; set; } = null!;

    [Inject] public NavigationManager Nav { get; set; } = null!;

    protected string? Error { get; set; }

    protected string? ErrorCode { get; set; }

    protected string? Returned { get; set; }

    /// <summary>Calls a function, showing its refusal (if any) as the page's error.</summary>
    protected async Task<CallResult> Call(string function, params Arg[] args)
    {
        var result = await Session.CallAsync(function, args);
        Error = result.Error;
        ErrorCode = result.Code;
        return result;
    }

    /// <summary>Loads; a refusal of the load shows unless an action's refusal already does.</summary>
    protected async Task<JsonElement?> Load(string function, params Arg[] args)
    {
        var result = await Session.CallAsync(function, args);
        if (!result.Ok)
        {
            Error ??= result.Error;
            ErrorCode ??= result.Code;
            return null;
        }
        return result.Value;
    }

    protected static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.ToString() : null;

    protected static Guid Id(JsonElement e, string name) => e.GetProperty(name).GetGuid();

    protected static List<JsonElement> Rows(JsonElement? e, string name) =>
        e is { } value && value.TryGetProperty(name, out var rows) && rows.ValueKind == JsonValueKind.Array ? rows.EnumerateArray().ToList() : [];

    protected static string When(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetDateTimeOffset().ToString("ddd d MMM HH:mm") : "";

    /// <summary>"verb:uuid" from a button's value.</summary>
    protected static (string Verb, Guid Id) Action(string? value)
    {
        var parts = (value ?? "").Split(':', 2);
        return parts.Length == 2 && Guid.TryParse(parts[1], out var id) ? (parts[0], id) : ("", Guid.Empty);
    }
}
