using System.Text.Json;
using System.Text.RegularExpressions;
using Lockstep.Platform.Database;
using Lockstep.Platform.Rpc;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace Lockstep.Platform.Errors;

/// <summary>
/// Turns exceptions into problem details: request-body errors (malformed JSON, wrong types, missing or
/// unknown fields, oversized or non-JSON bodies) and bad or missing query parameters become 4xx naming
/// the field; database errors go through
/// <see cref="Problems.FromPostgres"/>; anything else is a logged 500 with no detail.
/// </summary>
public sealed partial class ExceptionProblems(ILogger<ExceptionProblems> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            BadHttpRequestException bad => FromBadRequest(bad),
            PostgresException pg => FromDatabase(pg, context),
            CommandTimeoutException => Problems.DatabaseTimeout(),
            NpgsqlException or TimeoutException => Problems.Problem(503, "database_unavailable", "The database is not available; try again shortly"),
            _ => null,
        };
        if (problem is null)
        {
            logger.LogError(exception, "Unhandled exception for {Method} {Path}", context.Request.Method, context.Request.Path);
            problem = Problems.Problem(500, "internal_error", "Something went wrong on our side");
        }
        if (problem.StatusCode == 503)
        {
            context.Response.Headers.RetryAfter = "1";
        }
        if (RpcEndpoints.IsRpcPath(context.Request.Path))
        {
            await (problem.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? PostgrestErrors.WriteBodyTooLarge(context)
                : PostgrestErrors.Write(context, problem.StatusCode, "PGRST000", problem.ProblemDetails.Detail ?? ""));
            return true;
        }
        await problem.ExecuteAsync(context);
        return true;
    }

    private Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult FromDatabase(PostgresException e, HttpContext context)
    {
        var problem = Problems.FromPostgres(e);
        // A server shutting down or starting up (57P01, 57P03) is an outage, not a bug: the request log has its 503.
        if (problem.StatusCode >= 500 && !DatabaseCalls.IsConnectionLoss(e))
        {
            logger.LogError(e, "Database error {SqlState} for {Method} {Path}", e.SqlState, context.Request.Method, context.Request.Path);
        }
        return problem;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult FromBadRequest(BadHttpRequestException bad)
    {
        if (bad.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problems.Problem(413, "body_too_large", "The request body is larger than this server accepts");
        }
        if (bad.StatusCode == StatusCodes.Status415UnsupportedMediaType)
        {
            return Problems.Problem(415, "unsupported_media_type", "Send the body as application/json");
        }
        if (bad.InnerException is JsonException json)
        {
            return FromJson(json);
        }
        var parameter = UnboundParameter().Match(bad.Message);
        if (parameter.Success)
        {
            var field = parameter.Groups[1].Value;
            return Problems.Problem(400, "invalid_parameter", $"'{parameter.Groups[2].Value}' is not a valid value for {field}", field);
        }
        var missing = MissingParameter().Match(bad.Message);
        if (missing.Success)
        {
            var field = missing.Groups[1].Value;
            var what = missing.Groups[2].Value switch
            {
                "query string" => "query parameter",
                "route" => "route value",
                _ => "header",
            };
            return Problems.Problem(400, "parameter_required", $"The {what} '{field}' is required", field);
        }
        return Problems.Problem(400, "invalid_body", bad.Message.Contains("no body was provided", StringComparison.Ordinal)
            ? "A JSON body is required"
            : "The request could not be read");
    }

    /// <summary>Names the offending field: the JSON path where reading failed, or the missing/unknown property.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult FromJson(JsonException json)
    {
        // The reader's own exception inside means the text is not JSON at all, wherever it stopped.
        if (json.InnerException is JsonException)
        {
            return Problems.Problem(400, "invalid_json", "The body is not valid JSON");
        }
        var message = json.Message;
        var missing = MissingProperty().Match(message);
        if (missing.Success)
        {
            var field = missing.Groups[1].Value;
            return Problems.Problem(400, "field_required", $"The field '{field}' is required", field);
        }
        var unknown = UnknownProperty().Match(message);
        if (unknown.Success)
        {
            var field = unknown.Groups[1].Value;
            return Problems.Problem(400, "unknown_field", $"The field '{field}' is not part of this request", field);
        }
        if (json.Path is not { Length: > 2 } path || !path.StartsWith("$.", StringComparison.Ordinal))
        {
            return Problems.Problem(400, "invalid_body", "The body must be a JSON object");
        }
        var offending = path[2..];
        // A null for a non-nullable reference type is refused by name; for a value type (a uuid, a number)
        // it surfaces as the converter failing to read a Null token.
        if (message.Contains("doesn't allow null values", StringComparison.Ordinal)
            || json.InnerException is InvalidOperationException inner && inner.Message.Contains("token type 'Null'", StringComparison.Ordinal))
        {
            return Problems.Problem(400, "field_required", $"The field '{offending}' must not be null", offending);
        }
        return Problems.Problem(400, "invalid_field", $"The field '{offending}' has the wrong type or format", offending);
    }

    [GeneratedRegex("Failed to bind parameter \"[^ \"]+ ([^\"]+)\" from \"(.*)\"")]
    private static partial Regex UnboundParameter();

    [GeneratedRegex("Required parameter \"[^ \"]+ ([^\"]+)\" was not provided from (query string|route|header)\\.")]
    private static partial Regex MissingParameter();

    [GeneratedRegex("missing required properties including: '([^']+)'")]
    private static partial Regex MissingProperty();

    [GeneratedRegex("The JSON property '([^']+)' could not be mapped")]
    private static partial Regex UnknownProperty();
}
