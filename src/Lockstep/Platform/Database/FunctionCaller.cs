using Lockstep.Platform.Auth;
using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// Calls a SQL function as the caller: the verified token claims go into <c>request.jwt.claims</c>
/// with <c>set_config(..., true)</c> and the function runs right after, both in one batch — one round
/// trip, one implicit transaction, so the claims never outlive the call.
/// </summary>
public sealed class FunctionCaller(DatabaseHost database)
{
    private const string SetClaims = "select set_config('request.jwt.claims', $1, true)";

    /// <summary>Runs <paramref name="sql"/> (one row, one column) and returns that value as text, or null.</summary>
    public async Task<string?> CallAsync(VerifiedToken? caller, string sql, IReadOnlyList<object?> args, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(SetClaims) { Parameters = { new() { Value = caller?.ClaimsJson ?? "" } } },
            },
        };
        var call = new NpgsqlBatchCommand(sql);
        foreach (var arg in args)
        {
            call.Parameters.Add(arg as NpgsqlParameter ?? new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }
        batch.BatchCommands.Add(call);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken) || reader.FieldCount == 0 || await reader.IsDBNullAsync(0, cancellationToken))
        {
            return null;
        }
        return reader.GetFieldValue<string>(0);
    }
}
