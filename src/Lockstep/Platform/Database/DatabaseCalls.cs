using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// What the current request allows the database calls it makes: the keyed request's open transaction
/// (so a stored idempotent response commits with its effect), and whether a call whose outcome is
/// unknown after a lost connection may be sent again (true for reads). Flows with the request's async
/// context, so every handler gets it without passing it around.
/// </summary>
public static class DatabaseCalls
{
    private static readonly AsyncLocal<NpgsqlTransaction?> AmbientTransaction = new();
    private static readonly AsyncLocal<bool> AmbientRetryUnknown = new();

    /// <summary>The transaction every <see cref="FunctionCaller"/> call of this request joins, if any.</summary>
    public static NpgsqlTransaction? Transaction
    {
        get => AmbientTransaction.Value;
        set => AmbientTransaction.Value = value;
    }

    /// <summary>True when repeating a call after a lost connection is harmless (a read, GET).</summary>
    public static bool RetryUnknownOutcome
    {
        get => AmbientRetryUnknown.Value;
        set => AmbientRetryUnknown.Value = value;
    }

    /// <summary>
    /// Serialization failure and deadlock: the server rolled the transaction back, so running it again
    /// is always safe.
    /// </summary>
    public static bool IsRolledBack(Exception e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    /// <summary>The connection failed or was lost (or the server is shutting down/starting up): the outcome may be unknown.</summary>
    public static bool IsConnectionLoss(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("57P", StringComparison.Ordinal),
        NpgsqlException => true,
        TimeoutException => true,
        _ => false,
    };

    /// <summary>Delay before retry <paramref name="attempt"/> (1-based): 50 ms, 200 ms, 450 ms, ...</summary>
    public static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(50 * attempt * attempt);
}

/// <summary>
/// A call ran past <c>Lockstep:Database:CommandTimeoutSeconds</c> and Npgsql cancelled it in the database,
/// which answered the cancel: the database is up and the connection still open, so this is no lost
/// connection. Running the call again would only take as long again, and the pool's connections are
/// sound. Npgsql reports it as an <see cref="NpgsqlException"/> caused by a <see cref="TimeoutException"/>,
/// the same shape as a full pool or a connect timeout; <see cref="FunctionCaller"/> tells it apart (the
/// connection it ran on is open) and throws this instead, which no retry rule takes for a lost connection.
/// </summary>
public sealed class CommandTimeoutException(NpgsqlException inner)
    : Exception("The database call ran past the command timeout and was cancelled", inner);
