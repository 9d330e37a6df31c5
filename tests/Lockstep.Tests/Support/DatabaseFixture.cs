using Npgsql;

namespace Lockstep.Tests.Support;

/// <summary>A fresh, migrated database for one test class.</summary>
public class DatabaseFixture : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        ConnectionString = await TestCluster.CreateDatabaseAsync();
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public virtual async Task DisposeAsync() => await DataSource.DisposeAsync();

    /// <summary>Runs a scalar query as <paramref name="user"/> (claims set for the transaction), like the server does.</summary>
    public async Task<T> ScalarAsUserAsync<T>(Guid? user, string sql, params object?[] args)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return await ScalarAsUserAsync<T>(connection, user, sql, args);
    }

    public static async Task<T> ScalarAsUserAsync<T>(NpgsqlConnection connection, Guid? user, string sql, params object?[] args)
    {
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("select set_config('request.jwt.claims', $1, true)")
                {
                    Parameters = { new() { Value = user is null ? "" : $$"""{"sub":"{{user}}","role":"authenticated"}""" } },
                },
            },
        };
        var command = new NpgsqlBatchCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }
        batch.BatchCommands.Add(command);
        await using var reader = await batch.ExecuteReaderAsync();
        await reader.NextResultAsync();
        await reader.ReadAsync();
        return reader.GetFieldValue<T>(0);
    }

    public async Task<T> ScalarAsync<T>(string sql, params object?[] args)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
