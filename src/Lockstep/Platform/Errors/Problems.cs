using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Rpc;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Lockstep.Platform.Errors;

/// <summary>
/// The one place where refusal codes and SQLSTATEs become HTTP: RFC 9457 problem details with a stable
/// <c>code</c> on <c>/api</c>, PostgREST's error shape on <c>/rest</c>.
/// </summary>
public static partial class Problems
{
    // Refusal codes that mean "conflicts with what is already there"; modules add theirs. Concurrent
    // collections: servers built side by side in one process (the tests) register while others read.
    private static readonly ConcurrentDictionary<string, bool> ConflictCodes = new(
        [new("already_member", true), new("conflict", true)], StringComparer.Ordinal);

    private static readonly ConcurrentDictionary<string, (string Code, string Detail)> Constraints = new(
        [new("workspace_keeps_owner", ("last_owner", "A workspace keeps at least one owner"))], StringComparer.Ordinal);

    /// <summary>Lets a module name the refusal codes that answer 409 instead of 422.</summary>
    public static void AddConflictCodes(params string[] codes)
    {
        foreach (var code in codes)
        {
            ConflictCodes[code] = true;
        }
    }

    /// <summary>Lets a module give a constraint backstop its own code and sentence.</summary>
    public static void AddConstraint(string constraint, string code, string detail) => Constraints[constraint] = (code, detail);

    public static int StatusForRefusal(string code) => code switch
    {
        "not_authenticated" => StatusCodes.Status401Unauthorized,
        "forbidden" => StatusCodes.Status403Forbidden,
        "invalid_limit" or "invalid_cursor" => StatusCodes.Status400BadRequest,
        _ when code.EndsWith("_not_found", StringComparison.Ordinal) || code == "not_found" => StatusCodes.Status404NotFound,
        _ when code.EndsWith("_forbidden", StringComparison.Ordinal) => StatusCodes.Status403Forbidden,
        _ when ConflictCodes.ContainsKey(code) => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status422UnprocessableEntity,
    };

    public static ProblemHttpResult Refusal(string code, string? error) =>
        Problem(StatusForRefusal(code), code, error ?? "The request was refused");

    /// <summary>
    /// For a route whose body is optional (no body, or <c>{}</c>, takes the defaults): a body that is there
    /// but is not an object (JSON <c>null</c>) is a mistake, not "no body", and must change nothing.
    /// Null when the body is fine.
    /// </summary>
    public static ProblemHttpResult? OptionalBodyNotAnObject(HttpContext context, object? request) =>
        request is null && (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
            ? Problem(400, "invalid_body", "The body must be a JSON object, or empty")
            : null;

    public static ProblemHttpResult Problem(int status, string code, string detail, string? field = null)
    {
        var extensions = new Dictionary<string, object?> { ["code"] = code };
        if (field is not null)
        {
            extensions["field"] = field;
        }
        return TypedResults.Problem(detail: detail, statusCode: status, extensions: extensions);
    }

    /// <summary>
    /// Every problem carries the request id; a bare status from the framework (404 no such route, 405,
    /// 415 not JSON) gets a code too.
    /// </summary>
    public static void Customize(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Extensions["request_id"] = context.HttpContext.TraceIdentifier;
        if (!problem.Extensions.ContainsKey("code"))
        {
            problem.Extensions["code"] = problem.Status switch
            {
                404 => "not_found",
                405 => "method_not_allowed",
                415 => "unsupported_media_type",
                _ => "http_" + problem.Status,
            };
        }
    }

    /// <summary>
    /// A call the database cancelled at a time limit (the command timeout, or statement_timeout): 504,
    /// not 503, since the database is up; nothing of it was kept, and the same call would run as long again.
    /// </summary>
    public static ProblemHttpResult DatabaseTimeout() =>
        Problem(504, "database_timeout", "The database call ran past its time limit and was cancelled; nothing of it was kept");

    /// <summary>Maps a database error that escaped a function (a constraint backstop, bad input) to a problem.</summary>
    public static ProblemHttpResult FromPostgres(PostgresException e)
    {
        if (ViolatedConstraint(e) is { } constraint && Constraints.TryGetValue(constraint, out var named))
        {
            return Problem(e.SqlState switch
            {
                PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ForeignKeyViolation => StatusCodes.Status409Conflict,
                _ => StatusCodes.Status422UnprocessableEntity,
            }, named.Code, named.Detail);
        }
        return e.SqlState switch
        {
            PostgresErrorCodes.UniqueViolation => Problem(409, "conflict", "That would duplicate an existing record"),
            PostgresErrorCodes.ForeignKeyViolation when PointsAtMissingRow(e)
                => Problem(404, "reference_not_found", "A record this refers to does not exist"),
            PostgresErrorCodes.ForeignKeyViolation => Problem(409, "still_referenced", "Other records still refer to this one"),
            PostgresErrorCodes.CheckViolation => Problem(422, "constraint_violated", "The change breaks a rule of the data"),
            PostgresErrorCodes.NotNullViolation => Problem(400, "value_required", $"A value is required{(e.ColumnName is null ? "" : $" for {e.ColumnName}")}", e.ColumnName),
            PostgresErrorCodes.InsufficientPrivilege => Problem(403, "forbidden", "Not allowed"),
            PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
                => Problem(503, "retry", "The change collided with another one; try again"),
            PostgresErrorCodes.QueryCanceled => DatabaseTimeout(),
            _ when e.SqlState.StartsWith("22", StringComparison.Ordinal) => Problem(400, "invalid_input", "A value has the wrong format or is out of range"),
            _ when e.SqlState.StartsWith("08", StringComparison.Ordinal) || e.SqlState.StartsWith("57P", StringComparison.Ordinal)
                => Problem(503, "database_unavailable", "The database is not available; try again shortly"),
            _ => Problem(500, "internal_error", "Something went wrong on our side"),
        };
    }

    // On Citus a violation relayed from a worker has no constraint name, and its message names the shard's
    // copy of the constraint (unique_phone_workspace_102170); raised inside a call routed to a worker, the
    // shard's copy is the constraint name itself. The name is read from either, shard suffix dropped (no
    // constraint of the schema ends in a digit). platform.violated_constraint does the same in SQL.
    private static string? ViolatedConstraint(PostgresException e) =>
        !string.IsNullOrEmpty(e.ConstraintName) ? ShardSuffix().Replace(e.ConstraintName, "")
        : ShardConstraint().Match(e.MessageText) is { Success: true } match ? match.Groups[1].Value : null;

    [GeneratedRegex(@"constraint ""([^""]*[^""0-9_])(?:_[0-9]+)?""")]
    private static partial Regex ShardConstraint();

    [GeneratedRegex(@"(?<=[^0-9_])_[0-9]+$")]
    private static partial Regex ShardSuffix();

    // Both directions of a foreign key violation name the referencing table and the constraint; only the
    // message's verb tells a write pointing at a missing row from a delete of a row still referred to.
    // Detail says so too, but Npgsql redacts it unless the connection string has Include Error Detail.
    // A server with translated messages (the embedded one runs with locale C) falls back to 409.
    private static bool PointsAtMissingRow(PostgresException e) =>
        e.MessageText.StartsWith("insert or update on table", StringComparison.Ordinal)
        || e.Detail?.Contains("is not present", StringComparison.Ordinal) == true;

    /// <summary>401 for a missing or refused token, in the shape the route family uses.</summary>
    public static Task WriteUnauthenticated(HttpContext context, TokenRejection? rejection)
    {
        var (code, detail) = rejection switch
        {
            null => ("not_authenticated", "Sign in: send Authorization: Bearer <token>"),
            TokenRejection.AlgorithmNotAllowed => ("token_algorithm_not_allowed", "Tokens must be signed with HS256"),
            TokenRejection.SignatureInvalid => ("token_signature_invalid", "The token's signature is not valid"),
            TokenRejection.Expired => ("token_expired", "The token has expired"),
            TokenRejection.NotYetValid => ("token_not_yet_valid", "The token is not valid yet"),
            TokenRejection.AudienceInvalid => ("token_audience_invalid", "The token is not meant for this server (aud)"),
            TokenRejection.SubjectInvalid => ("token_subject_invalid", "The token's subject (sub) must be a user uuid"),
            TokenRejection.ExpiryMissing => ("token_exp_missing", "The token has no exp claim; tokens must say when they expire"),
            _ => ("token_malformed", "The bearer token is not a well-formed JWT"),
        };
        context.Response.Headers.WWWAuthenticate = rejection is null ? "Bearer" : $"Bearer error=\"invalid_token\"";
        if (RpcEndpoints.IsRpcPath(context.Request.Path))
        {
            var postgrestCode = rejection is TokenRejection.Expired or TokenRejection.NotYetValid or TokenRejection.AudienceInvalid
                ? "PGRST303" : "PGRST301";
            return PostgrestErrors.Write(context, 401, postgrestCode, detail);
        }
        return Problem(401, code, detail).ExecuteAsync(context);
    }
}
