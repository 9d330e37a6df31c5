using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// On Citus a worker's refusal at commit (a deferred constraint trigger, such as the owner rule, under
/// two-phase commit) reaches the client only as a WARNING notice with the refusal's SQLSTATE, followed by
/// XX000 <c>could not commit transaction for shard ... on at least one active node</c>. Watches one
/// connection's notices for the life of a call; <see cref="Of"/> turns such a failed commit back into the
/// worker's integrity violation, which then maps as it does on one node. An XX000 with no such notice
/// stays what it is (a logged 500).
/// </summary>
public sealed class CommitRefusal : IDisposable
{
    private const string CommitFailed = "could not commit transaction";

    private readonly NpgsqlConnection _connection;
    private PostgresNotice? _violation;

    public CommitRefusal(NpgsqlConnection connection)
    {
        _connection = connection;
        connection.Notice += OnNotice;
    }

    /// <summary>The worker's violation behind <paramref name="e"/>, or null when <paramref name="e"/> is not such a failed commit.</summary>
    public PostgresException? Of(Exception e) => Of(e, _violation);

    /// <summary>As <see cref="Of(Exception)"/>, for the last integrity-violation notice the connection received.</summary>
    public static PostgresException? Of(Exception e, PostgresNotice? violation) =>
        e is PostgresException { SqlState: PostgresErrorCodes.InternalError } failed
        && failed.MessageText.StartsWith(CommitFailed, StringComparison.Ordinal) && violation is not null
            ? new PostgresException(violation.MessageText, "ERROR", "ERROR", violation.SqlState, violation.Detail,
                constraintName: violation.ConstraintName, schemaName: violation.SchemaName, tableName: violation.TableName)
            : null;

    private void OnNotice(object? sender, NpgsqlNoticeEventArgs e)
    {
        if (e.Notice.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            _violation = e.Notice;
        }
    }

    public void Dispose() => _connection.Notice -= OnNotice;
}
