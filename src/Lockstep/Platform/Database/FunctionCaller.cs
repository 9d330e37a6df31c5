using Lockstep.Platform.Auth;
using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// Calls a SQL function as the caller: the verified token claims go into <c>request.jwt.claims</c>
/// with <c>set_config(..., true)</c> and the function runs right after, both in one batch — one round
/// trip, one implicit transaction, so the claims never outlive the call. Inside a keyed request
/// (<see cref="DatabaseCalls.Transaction"/>) the batch joins that request's transaction instead.
/// On Citus (<see cref="DatabaseHost.OnCitus"/>) the batch is <c>begin; set local request.jwt.claims = '…';
/// select public.fn(…); commit</c>, still one round trip: Citus delegates a bare call of a function
/// distributed by <c>p_workspace_id</c> to the worker holding the workspace, and of the two ways to set
/// the claims only <c>set local</c> in a transaction block reaches it there
/// (<c>citus.propagate_set_commands = local</c>, <see cref="DatabaseHost.RoutingConnectionString"/>).
/// A call is written as a bare <c>select public.fn(…)</c>, which both shapes send as it is; its value is
/// read as text (json and jsonb as written, a boolean as <c>true</c>/<c>false</c>, a number in invariant form).
/// A call the server rolled back (40001, 40P01), or that never reached it, is tried again a bounded
/// number of times; after a lost connection only when the request is a read. A call that ran past its
/// time (<see cref="CommandTimeoutException"/>, or statement_timeout's 57014) is not: it would only take
/// as long again. A commit that failed on Citus because a worker refused it is raised as that refusal
/// (<see cref="CommitRefusal"/>).
/// </summary>
public sealed class FunctionCaller(DatabaseHost database, IConfiguration configuration)
{
    private const string SetClaims = "select set_config('request.jwt.claims', $1, true)";
    private const string Savepoint = "lockstep_call";

    private readonly int _attempts = Math.Max(1, configuration.GetValue("Lockstep:Database:RetryAttempts", 3));

    /// <summary>Runs <paramref name="sql"/> (one row, one column) and returns that value as text, or null.</summary>
    public async Task<string?> CallAsync(VerifiedToken? caller, string sql, IReadOnlyList<object?> args, CancellationToken cancellationToken)
    {
        if (DatabaseCalls.Transaction is { } transaction)
        {
            // The keyed request retries as a whole (a failed statement aborts its transaction).
            return await ExecuteAsync(transaction.Connection!, transaction, caller, sql, args, cancellationToken);
        }
        for (var attempt = 1; ; attempt++)
        {
            var sent = false;
            try
            {
                await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
                using var refusal = new CommitRefusal(connection);
                sent = true;
                try
                {
                    return await ExecuteAsync(connection, null, caller, sql, args, cancellationToken);
                }
                catch (PostgresException e) when (refusal.Of(e) is { } violation)
                {
                    throw violation;
                }
            }
            catch (Exception e) when (attempt < _attempts && !cancellationToken.IsCancellationRequested
                && (DatabaseCalls.IsRolledBack(e) || (DatabaseCalls.IsConnectionLoss(e) && (!sent || DatabaseCalls.RetryUnknownOutcome))))
            {
                if (DatabaseCalls.IsConnectionLoss(e))
                {
                    // The other idle connections of the pool most likely died with this one.
                    database.DataSource.Clear();
                }
                await Task.Delay(DatabaseCalls.Backoff(attempt), cancellationToken);
            }
        }
    }

    /// <summary>
    /// Like <see cref="CallAsync"/>, for a call whose failure must undo only itself, such as one row of a
    /// batch whose rows stand alone. Inside a keyed request's transaction it runs under a savepoint: a
    /// statement that raises is rolled back to it, so the transaction (and the answer stored with it)
    /// goes on with the other calls; a deadlock there is retried on this call alone, a bounded number
    /// of times. A lost connection is not caught: the keyed request runs again as a whole.
    /// </summary>
    public async Task<string?> CallIsolatedAsync(VerifiedToken? caller, string sql, IReadOnlyList<object?> args, CancellationToken cancellationToken)
    {
        if (DatabaseCalls.Transaction is not { } transaction)
        {
            return await CallAsync(caller, sql, args, cancellationToken);
        }
        for (var attempt = 1; ; attempt++)
        {
            await transaction.SaveAsync(Savepoint, cancellationToken);
            try
            {
                var value = await ExecuteAsync(transaction.Connection!, transaction, caller, sql, args, cancellationToken);
                await transaction.ReleaseAsync(Savepoint, cancellationToken);
                return value;
            }
            catch (Exception e) when (((e is PostgresException && !DatabaseCalls.IsConnectionLoss(e)) || e is CommandTimeoutException)
                && !cancellationToken.IsCancellationRequested)
            {
                await transaction.RollbackAsync(Savepoint, cancellationToken);
                await transaction.ReleaseAsync(Savepoint, cancellationToken);
                if (attempt >= _attempts || e is not PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected })
                {
                    throw;
                }
            }
            await Task.Delay(DatabaseCalls.Backoff(attempt), cancellationToken);
        }
    }

    private async Task<string?> ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, VerifiedToken? caller, string sql, IReadOnlyList<object?> args,
        CancellationToken cancellationToken)
    {
        var call = new NpgsqlBatchCommand(sql);
        foreach (var arg in args)
        {
            var parameter = arg is NpgsqlParameter given ? given.Clone() : new NpgsqlParameter { Value = arg ?? DBNull.Value };
            BindTimeErrors.ThrowIfRefused(parameter);
            call.Parameters.Add(parameter);
        }
        await using var batch = CallBatch(connection, transaction, caller?.ClaimsJson ?? "", call, database.OnCitus);

        try
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            var value = await ReadValueAsync(reader, database.OnCitus, cancellationToken);
            // What follows the call (a commit, which on Citus may still refuse) raises here, not unseen at dispose.
            while (await reader.NextResultAsync(cancellationToken))
            {
            }
            return value;
        }
        catch (NpgsqlException e) when (e is not PostgresException && e.InnerException is TimeoutException
            && connection.State == System.Data.ConnectionState.Open)
        {
            // Npgsql cancelled the call at its command timeout and the database answered: no connection was lost.
            throw new CommandTimeoutException(e);
        }
    }

    /// <summary>
    /// The one batch a call is sent as, with <paramref name="claimsJson"/> as the caller's claims: the routed
    /// shape on Citus (<paramref name="onCitus"/>), else <c>set_config</c> and the call. The tests' calls as a
    /// user are sent the same way.
    /// </summary>
    public static NpgsqlBatch CallBatch(NpgsqlConnection connection, NpgsqlTransaction? transaction, string claimsJson, NpgsqlBatchCommand call, bool onCitus) =>
        onCitus ? RoutedBatch(connection, transaction, claimsJson, call) : ClaimsBatch(connection, transaction, claimsJson, call);

    /// <summary><c>set_config</c>, then the call: the claims a parameter.</summary>
    private static NpgsqlBatch ClaimsBatch(NpgsqlConnection connection, NpgsqlTransaction? transaction, string claimsJson, NpgsqlBatchCommand call) =>
        new(connection, transaction)
        {
            BatchCommands = { new NpgsqlBatchCommand(SetClaims) { Parameters = { new() { Value = claimsJson } } }, call },
        };

    /// <summary>
    /// <c>begin; set local ...; the call; commit</c>; inside a keyed request's transaction only the
    /// <c>set local</c> and the call. A <c>set</c> takes no parameter, so the claims are a literal.
    /// </summary>
    private static NpgsqlBatch RoutedBatch(NpgsqlConnection connection, NpgsqlTransaction? transaction, string claimsJson, NpgsqlBatchCommand call)
    {
        var batch = new NpgsqlBatch(connection, transaction);
        if (transaction is null)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("begin"));
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"set local request.jwt.claims = {QuoteLiteral(claimsJson)}"));
        batch.BatchCommands.Add(call);
        if (transaction is null)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("commit"));
        }
        return batch;
    }

    /// <summary>
    /// A string literal: quotes doubled, so no text can end it early. Backslashes are plain characters
    /// under <c>standard_conforming_strings</c>, on since PostgreSQL 9.1 and required here (Npgsql's own
    /// literals assume it too).
    /// </summary>
    public static string QuoteLiteral(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static async Task<string?> ReadValueAsync(NpgsqlDataReader reader, bool routed, CancellationToken cancellationToken)
    {
        if (!routed)
        {
            // Past set_config's row.
            await reader.NextResultAsync(cancellationToken);
        }
        if (!await reader.ReadAsync(cancellationToken) || reader.FieldCount == 0 || await reader.IsDBNullAsync(0, cancellationToken))
        {
            return null;
        }
        var type = reader.GetFieldType(0);
        return type == typeof(string) ? reader.GetFieldValue<string>(0)
            : type == typeof(bool) ? (reader.GetBoolean(0) ? "true" : "false")
            : Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);
    }
}
