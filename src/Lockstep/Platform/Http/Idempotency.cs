using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Rpc;
using Microsoft.AspNetCore.Http.Features;
using Npgsql;

namespace Lockstep.Platform.Http;

/// <summary>
/// <c>Idempotency-Key</c> on every <c>POST</c> of <c>/api</c> (and <c>/rest/v1/rpc</c>), as Stripe defines it.
/// A keyed request runs in one explicit transaction on one connection: <c>platform.idempotency_begin</c>
/// locks the key (409 <c>idempotency_key_in_progress</c> while another request holds it) and answers
/// replay / reused / new; for a new key the endpoint runs with every <see cref="FunctionCaller"/> call
/// joining that transaction, its response is buffered, stored with <c>platform.idempotency_complete</c>
/// and committed together with the effect, then sent. A retry with the same key and the same request
/// (hash of method, path with query, body) gets the stored status and body with
/// <c>Idempotent-Replayed: true</c>; a different request → 422 <c>idempotency_key_reused</c>.
/// Keys are scoped to the caller's token subject; anonymous callers cannot use keys (400).
/// 5xx responses and exceptions are rolled back and not stored, so the client's retry runs again.
/// Serialization failures, deadlocks and lost connections are retried here a bounded number of times:
/// with the key, running again is safe even when a commit's outcome was unknown. A commit a Citus worker
/// refused fails as that refusal (<see cref="CommitRefusal"/>): nothing is stored, the client gets its 4xx.
/// Also marks reads (GET/HEAD) so <see cref="FunctionCaller"/> may retry them after a lost connection.
/// </summary>
public sealed class Idempotency(RequestDelegate next, DatabaseHost database, IConfiguration configuration, ILogger<Idempotency> logger)
{
    public const string KeyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxKeyLength = 255;

    private readonly TimeSpan _ttl = configuration.GetValue("Lockstep:Idempotency:Ttl", TimeSpan.FromHours(24));
    private readonly int _attempts = Math.Max(1, configuration.GetValue("Lockstep:Database:RetryAttempts", 3));

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        {
            DatabaseCalls.RetryUnknownOutcome = true;
            await next(context);
            return;
        }
        if (!HttpMethods.IsPost(request.Method)
            || !(request.Path.StartsWithSegments("/api") || request.Path.StartsWithSegments(RpcEndpoints.Prefix + "/rpc"))
            || !request.Headers.TryGetValue(KeyHeader, out var values))
        {
            await next(context);
            return;
        }

        if (values.Count != 1 || values[0] is not { Length: > 0 and <= MaxKeyLength } key)
        {
            await WriteProblem(context, 400, "invalid_idempotency_key", $"{KeyHeader} must be one value of 1 to {MaxKeyLength} characters");
            return;
        }
        if (context.Features.Get<VerifiedToken>()?.UserId is not { } user)
        {
            await WriteProblem(context, 400, "idempotency_key_not_allowed", $"{KeyHeader} needs a signed-in caller");
            return;
        }
        var scope = "user:" + user.ToString("D");
        var hash = await RequestHashAsync(request, context.RequestAborted);

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await RunOnceAsync(context, scope, key, hash);
                return;
            }
            catch (Exception e) when (attempt < _attempts && !context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted
                && (DatabaseCalls.IsRolledBack(e) || DatabaseCalls.IsConnectionLoss(e)))
            {
                logger.LogInformation("Keyed request {Method} {Path} retried after {Error} (attempt {Attempt})",
                    request.Method, request.Path, e.GetType().Name, attempt);
                if (DatabaseCalls.IsConnectionLoss(e))
                {
                    database.DataSource.Clear();
                }
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.Headers.Clear();
                request.Body.Position = 0;
                await Task.Delay(DatabaseCalls.Backoff(attempt), context.RequestAborted);
            }
        }
    }

    private async Task RunOnceAsync(HttpContext context, string scope, string key, string hash)
    {
        var cancellationToken = context.RequestAborted;
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        using var refusal = new CommitRefusal(connection);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        string begun;
        await using (var begin = new NpgsqlCommand("select platform.idempotency_begin($1, $2, $3)::text", connection, transaction))
        {
            begin.Parameters.Add(new NpgsqlParameter { Value = scope });
            begin.Parameters.Add(new NpgsqlParameter { Value = key });
            begin.Parameters.Add(new NpgsqlParameter { Value = hash });
            begun = (string)(await begin.ExecuteScalarAsync(cancellationToken))!;
        }
        using (var state = JsonDocument.Parse(begun))
        {
            var root = state.RootElement;
            switch (root.GetProperty("state").GetString())
            {
                case "in_progress":
                    await transaction.RollbackAsync(cancellationToken);
                    context.Response.Headers.RetryAfter = "1";
                    await WriteProblem(context, 409, "idempotency_key_in_progress", "A request with this Idempotency-Key is still running; retry later");
                    return;
                case "reused":
                    await transaction.RollbackAsync(cancellationToken);
                    await WriteProblem(context, 422, "idempotency_key_reused", "This Idempotency-Key was used for a different request");
                    return;
                case "replay":
                    await transaction.RollbackAsync(cancellationToken);
                    await ReplayAsync(context, root);
                    return;
            }
        }

        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var buffer = new MemoryStream();
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(buffer));
        DatabaseCalls.Transaction = transaction;
        try
        {
            await next(context);
            await context.Response.Body.FlushAsync(cancellationToken);
        }
        finally
        {
            DatabaseCalls.Transaction = null;
            context.Features.Set(originalBody);
        }

        var response = context.Response;
        if (response.StatusCode < 500 && await TryCompleteAsync(connection, transaction, scope, key, hash, response, buffer, cancellationToken))
        {
            try
            {
                await transaction.CommitAsync(cancellationToken);
            }
            catch (PostgresException e) when (refusal.Of(e) is { } violation)
            {
                throw violation;
            }
        }
        else
        {
            await transaction.RollbackAsync(cancellationToken);
        }
        buffer.Position = 0;
        await buffer.CopyToAsync(response.Body, cancellationToken);
    }

    /// <summary>Stores the response; false when the transaction already failed (a statement raised and was mapped to 4xx).</summary>
    private async Task<bool> TryCompleteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string scope, string key, string hash, HttpResponse response,
        MemoryStream buffer, CancellationToken cancellationToken)
    {
        await using var complete = new NpgsqlCommand("select platform.idempotency_complete($1, $2, $3, $4, $5, $6, $7, $8)", connection, transaction);
        complete.Parameters.Add(new NpgsqlParameter { Value = scope });
        complete.Parameters.Add(new NpgsqlParameter { Value = key });
        complete.Parameters.Add(new NpgsqlParameter { Value = hash });
        complete.Parameters.Add(new NpgsqlParameter { Value = response.StatusCode });
        complete.Parameters.Add(new NpgsqlParameter { Value = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length) });
        complete.Parameters.Add(new NpgsqlParameter { Value = (object?)response.ContentType ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        complete.Parameters.Add(new NpgsqlParameter { Value = response.Headers.Location.ToString() is { Length: > 0 } location ? location : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        complete.Parameters.Add(new NpgsqlParameter { Value = _ttl });
        try
        {
            await complete.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InFailedSqlTransaction)
        {
            logger.LogDebug("Keyed request's transaction failed before completion; response not stored");
            return false;
        }
    }

    private static async Task ReplayAsync(HttpContext context, JsonElement stored)
    {
        var response = context.Response;
        response.StatusCode = stored.GetProperty("status").GetInt32();
        if (stored.GetProperty("content_type").GetString() is { } contentType)
        {
            response.ContentType = contentType;
        }
        if (stored.GetProperty("location").GetString() is { } location)
        {
            response.Headers.Location = location;
        }
        response.Headers[ReplayedHeader] = "true";
        var body = stored.GetProperty("body").GetString() ?? "";
        if (body.Length > 0)
        {
            await response.WriteAsync(body, context.RequestAborted);
        }
    }

    /// <summary>SHA-256 of method, path with query and body: what makes "the same request".</summary>
    private static async Task<string> RequestHashAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method}\n{request.Path}{request.QueryString}\n"));
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            hash.AppendData(chunk, 0, read);
        }
        request.Body.Position = 0;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static Task WriteProblem(HttpContext context, int status, string code, string detail) =>
        RpcEndpoints.IsRpcPath(context.Request.Path)
            ? PostgrestErrors.Write(context, status, code, detail)
            : Problems.Problem(status, code, detail).ExecuteAsync(context);
}
