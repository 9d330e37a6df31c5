using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Platform.Rpc;

/// <summary>
/// <c>POST /rest/v1/rpc</c> with <c>{"calls": [{"fn", "args"}, ...]}</c>: several exposed functions in one
/// request and one transaction, later calls taking values of earlier results through
/// <c>{"$ref": "0.client_id"}</c>; all of them commit or none. The transaction lives only inside this
/// request and is bounded by <c>Lockstep:Rpc:BatchTimeout</c>, so no client's network ever holds a lock.
/// </summary>
public static class RpcBatchEndpoint
{
    public const int DefaultMaxCalls = 50;
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
    private const string SetClaims = "select set_config('request.jwt.claims', $1, true)";
    // Server-side backstops for the C# deadline: no statement, and no pause between two calls, outlasts it.
    internal const string SetTimeouts =
        "select set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $1, true)";

    public static IEndpointRouteBuilder MapRpcBatch(this IEndpointRouteBuilder app)
    {
        app.MapPost(RpcEndpoints.Prefix + "/rpc", RunAsync).ExcludeFromDescription();
        return app;
    }

    private static async Task RunAsync(HttpContext context, FunctionCatalog catalog, DatabaseHost database, IConfiguration configuration, ILoggerFactory loggers)
    {
        var schema = context.Request.Headers["Content-Profile"].ToString();
        if (schema.Length > 0 && schema != FunctionCatalog.ExposedSchema)
        {
            await PostgrestErrors.Write(context, 406, "PGRST106", $"The schema must be one of the following: {FunctionCatalog.ExposedSchema}");
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

        var maxCalls = configuration.GetValue("Lockstep:Rpc:MaxBatchCalls", DefaultMaxCalls);
        var (calls, invalid) = RpcBatch.Parse(body, maxCalls, catalog);
        if (invalid is not null)
        {
            await WriteError(context, invalid);
            return;
        }

        var token = context.Features.Get<VerifiedToken>();
        // As for a single call: without a user the first call is refused as PostgREST refuses it, and nothing runs.
        if (token?.UserId is null)
        {
            await PostgrestErrors.NotSignedIn(context, calls![0].Function.Name, json => json.WriteNumber("index", 0));
            return;
        }

        var timeout = Timeout(configuration);
        var (results, error) = await ExecuteAsync(calls!, token, database, catalog, timeout, context.RequestAborted);
        if (error is not null)
        {
            var logger = loggers.CreateLogger(typeof(RpcBatchEndpoint));
            if (error.Code == "57014")
            {
                logger.LogWarning("Batch of {Calls} calls rolled back at its time limit ({Timeout} ms), in call {Index}", calls!.Count, timeout.TotalMilliseconds, error.Index);
            }
            else if (error.Status >= 500 && error.Status != 503)
            {
                logger.LogError("Batch call {Index} failed with {SqlState}: {Message}", error.Index, error.Code, error.Message);
            }
            await WriteError(context, error);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json; charset=utf-8";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteStartArray("results");
        foreach (var result in results!)
        {
            json.WriteRawValue(result ?? "null", skipInputValidation: true);
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>Runs the calls in order in one transaction; returns each call's value as JSON text, or the error that rolled it all back.</summary>
    private static async Task<(List<string?>? Results, BatchError? Error)> ExecuteAsync(
        List<BatchCall> calls, VerifiedToken? token, DatabaseHost database, FunctionCatalog catalog, TimeSpan timeout, CancellationToken aborted)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(timeout);
        var milliseconds = Math.Max(1, (long)Math.Ceiling(timeout.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
        var texts = new List<string?>(calls.Count);
        var values = new List<JsonNode?>(calls.Count);
        BatchCall? running = null;
        var committing = false;
        // With an Idempotency-Key the batch joins the keyed transaction, so its effect and the stored
        // response commit together; a savepoint then stands in for the batch's own rollback.
        var keyed = DatabaseCalls.Transaction;
        var applied = false;
        try
        {
            await using var owned = keyed is null ? await database.DataSource.OpenConnectionAsync(deadline.Token) : null;
            // Leaving this block any way but through the commit disposes the transaction: a rollback.
            await using var ownedTransaction = owned is null ? null : await owned.BeginTransactionAsync(deadline.Token);
            var connection = keyed?.Connection ?? owned!;
            var transaction = keyed ?? ownedTransaction!;
            if (keyed is not null)
            {
                await keyed.SaveAsync(KeyedSavepoint, deadline.Token);
            }
            foreach (var call in calls)
            {
                running = call;
                if (RpcBatch.Resolve(call, values) is { } missing)
                {
                    return (null, missing);
                }

                await using var batch = new NpgsqlBatch(connection, transaction);
                if (call.Index == 0)
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(SetTimeouts) { Parameters = { new() { Value = milliseconds } } });
                }
                // Set again for every call: whatever an earlier call did, each runs with exactly the caller's claims.
                batch.BatchCommands.Add(new NpgsqlBatchCommand(SetClaims) { Parameters = { new() { Value = token?.ClaimsJson ?? "" } } });
                var argNames = call.Function.TakesWholeBody ? [] : call.Args.Select(p => p.Key).ToList();
                batch.BatchCommands.Add(new NpgsqlBatchCommand(catalog.CallSql(call.Function, argNames))
                {
                    Parameters = { new() { Value = call.Args.ToJsonString() } },
                });

                string? text = null;
                await using (var reader = await batch.ExecuteReaderAsync(deadline.Token))
                {
                    for (var skipped = 1; skipped < batch.BatchCommands.Count; skipped++)
                    {
                        await reader.NextResultAsync(deadline.Token);
                    }
                    if (await reader.ReadAsync(deadline.Token) && !await reader.IsDBNullAsync(0, deadline.Token))
                    {
                        text = reader.GetFieldValue<string>(0);
                    }
                }

                var value = text is null ? null : JsonNode.Parse(text);
                if (IsRefusal(value))
                {
                    return (null, Refused(call, (JsonObject)value!));
                }
                texts.Add(text);
                values.Add(value);
            }
            running = null;
            committing = true;
            applied = true;
            if (keyed is null)
            {
                // Not cancelled: a commit cut short by the deadline could have committed, and the answer would then be wrong.
                await transaction.CommitAsync(CancellationToken.None);
            }
            return (texts, null);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            return (null, new BatchError(499, "PGRST000", "The client closed the request; the batch was rolled back", running?.Index));
        }
        catch (OperationCanceledException)
        {
            return (null, TimedOut(running, timeout));
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.QueryCanceled or "25P03")
        {
            return (null, TimedOut(running, timeout));
        }
        catch (PostgresException e)
        {
            var retry = e.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected;
            return (null, new BatchError(retry ? 503 : PostgrestErrors.Status(e.SqlState, token is not null), e.SqlState, e.MessageText, running?.Index, e.Detail, e.Hint)
            {
                RetryAfter = retry,
            });
        }
        catch (NpgsqlException) when (committing)
        {
            return (null, new BatchError(503, "PGRST000", "The connection to the database broke during the commit: the batch may or may not have been applied", null));
        }
        catch (NpgsqlException)
        {
            return (null, new BatchError(503, "PGRST000", "Could not connect with the database; the batch was rolled back", running?.Index) { RetryAfter = true });
        }
        finally
        {
            if (keyed is not null && !applied)
            {
                await UndoKeyedAsync(keyed);
            }
        }
    }

    private const string KeyedSavepoint = "lockstep_batch";

    /// <summary>Undoes a keyed batch's calls but keeps the keyed transaction, which stores the error response.</summary>
    private static async Task UndoKeyedAsync(NpgsqlTransaction keyed)
    {
        try
        {
            await keyed.RollbackAsync(KeyedSavepoint, CancellationToken.None);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // The connection broke (or the savepoint never came to be): the keyed transaction is lost whole,
            // and the response is not stored, so a retry with the key runs the batch again.
        }
    }

    private static bool IsRefusal(JsonNode? value) =>
        value is JsonObject obj && obj["success"] is JsonValue success && success.TryGetValue<bool>(out var ok) && !ok;

    private static BatchError Refused(BatchCall call, JsonObject refusal)
    {
        var code = refusal["code"] is JsonValue c && c.TryGetValue<string>(out var text) ? text : "batch_call_refused";
        var error = refusal["error"] is JsonValue e && e.TryGetValue<string>(out var sentence) ? sentence : "The call was refused";
        return new BatchError(422, code, error, call.Index, $"calls[{call.Index}] ({call.Function.Name}) refused; the batch was rolled back")
        {
            Refusal = refusal,
        };
    }

    private static BatchError TimedOut(BatchCall? running, TimeSpan timeout) =>
        new(504, PostgresErrorCodes.QueryCanceled,
            $"The batch ran past its time limit of {timeout.TotalMilliseconds:0} ms and was rolled back",
            running?.Index,
            running is null ? null : $"calls[{running.Index}] ({running.Function.Name}) was running",
            "Make the batch smaller or its calls faster; Lockstep:Rpc:BatchTimeout sets the limit");

    private static Task WriteError(HttpContext context, BatchError error)
    {
        if (error.RetryAfter)
        {
            context.Response.Headers.RetryAfter = "1";
        }
        return PostgrestErrors.Write(context, error.Status, error.Code, error.Message, error.Details, error.Hint, json =>
        {
            if (error.Index is { } index)
            {
                json.WriteNumber("index", index);
            }
            else
            {
                json.WriteNull("index");
            }
            if (error.Refusal is { } refusal)
            {
                json.WritePropertyName("refusal");
                refusal.WriteTo(json);
            }
        });
    }

    /// <summary><c>Lockstep:Rpc:BatchTimeout</c>: a TimeSpan (<c>00:00:05</c>) or a number of seconds (<c>0.5</c>).</summary>
    private static TimeSpan Timeout(IConfiguration configuration)
    {
        var text = configuration["Lockstep:Rpc:BatchTimeout"];
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultTimeout;
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }
        throw new InvalidOperationException($"Lockstep:Rpc:BatchTimeout '{text}' is neither a positive TimeSpan (00:00:05) nor a number of seconds.");
    }
}
