using System.Text.Json;
using Npgsql;

namespace Lockstep.Platform.Rpc;

/// <summary>PostgREST's error body <c>{code, details, hint, message}</c> and its SQLSTATE → HTTP status table.</summary>
public static class PostgrestErrors
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Task Write(HttpContext context, int status, string code, string message, string? details = null, string? hint = null) =>
        Write(context, status, code, message, details, hint, extra: null);

    /// <summary>The same body with more members after PostgREST's four (the batch endpoint adds the failing call's index).</summary>
    public static async Task Write(HttpContext context, int status, string code, string message, string? details, string? hint, Action<Utf8JsonWriter>? extra)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await using var json = new Utf8JsonWriter(context.Response.Body, WriterOptions);
        json.WriteStartObject();
        json.WriteString("code", code);
        WriteNullable(json, "details", details);
        WriteNullable(json, "hint", hint);
        json.WriteString("message", message);
        extra?.Invoke(json);
        json.WriteEndObject();
    }

    /// <summary>
    /// What PostgREST answers a caller without a signed-in user (its anonymous role) for a function that
    /// role may not execute: PostgreSQL's 42501, as 401 with <c>WWW-Authenticate: Bearer</c>.
    /// </summary>
    public static Task NotSignedIn(HttpContext context, string function, Action<Utf8JsonWriter>? extra = null)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Write(context, 401, "42501", $"permission denied for function {function}", details: null, hint: null, extra);
    }

    /// <summary>
    /// 413 for a body over <c>Lockstep:MaxRequestBodyBytes</c>. PostgREST sets no body limit and has no code
    /// for one (its own codes are PGRST0xx to PGRST3xx), so the code is the one <c>/api</c> answers with.
    /// </summary>
    public static Task WriteBodyTooLarge(HttpContext context) =>
        Write(context, StatusCodes.Status413PayloadTooLarge, "body_too_large", "The request body is larger than this server accepts");

    public static Task Write(HttpContext context, PostgresException e, bool authenticated) =>
        Write(context, Status(e.SqlState, authenticated), e.SqlState, e.MessageText, e.Detail, e.Hint);

    /// <summary>PostgREST's mapping (src/PostgREST/Error.hs, mapSQLtoHTTP).</summary>
    public static int Status(string sqlState, bool authenticated) => sqlState switch
    {
        "23503" or "23505" => 409,
        "25006" => 405,
        "P0001" => 400,
        "42883" or "42P01" => 404,
        "42P17" => 500,
        "42501" => authenticated ? 403 : 401,
        "53400" => 500,
        "57P01" => 503,
        _ when sqlState.StartsWith("08", StringComparison.Ordinal) => 503,
        _ when sqlState.StartsWith("53", StringComparison.Ordinal) => 503,
        _ when sqlState.StartsWith("0L", StringComparison.Ordinal) || sqlState.StartsWith("0P", StringComparison.Ordinal)
            || sqlState.StartsWith("28", StringComparison.Ordinal) => 403,
        _ when sqlState.StartsWith("P0", StringComparison.Ordinal) => 500,
        _ when sqlState.Length == 5 && sqlState[..2] is "09" or "25" or "2D" or "38" or "39" or "3B" or "40" or "54" or "55" or "57" or "58" or "F0" or "HV" or "XX" => 500,
        _ => 400,
    };

    private static void WriteNullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}
