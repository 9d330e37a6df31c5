using System.Text.Json;
using Lockstep.Platform.Database;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Lockstep.Tests.Support;

/// <summary>
/// A fresh, migrated database for one test class. Set-up and the invariant checks afterwards run as the
/// owner (<see cref="DataSource"/>, who can read tables); calls made as a user run as the serving role
/// (<see cref="ServingDataSource"/>), exactly as the server makes them, so a privilege a function lacks
/// at run time (a deferred trigger at commit, say) fails here as it would in production.
/// </summary>
public class DatabaseFixture : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    /// <summary>Connections as <see cref="DatabaseHost.ServingRole"/>, made the way the server makes them.</summary>
    public NpgsqlDataSource ServingDataSource { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        ConnectionString = await TestCluster.CreateDatabaseAsync();
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        var serving = DatabaseHost.ServingConnectionString(ConnectionString, new ConfigurationBuilder().Build());
        ServingDataSource = NpgsqlDataSource.Create(TestCluster.OnCitus ? DatabaseHost.RoutingConnectionString(serving) : serving);
    }

    public virtual async Task DisposeAsync()
    {
        await ServingDataSource.DisposeAsync();
        await DataSource.DisposeAsync();
    }

    /// <summary>Runs a scalar query as <paramref name="user"/> (claims set for the transaction) over the serving role, like the server does.</summary>
    public async Task<T> ScalarAsUserAsync<T>(Guid? user, string sql, params object?[] args)
    {
        await using var connection = await ServingDataSource.OpenConnectionAsync();
        return await ScalarAsUserAsync<T>(connection, user, sql, args);
    }

    /// <summary>
    /// Sent as the server sends a call (<see cref="FunctionCaller.CallBatch"/>): on a session set up for routed
    /// calls (<see cref="DatabaseHost.RoutingConnectionString"/>, on Citus) in the shape Citus delegates.
    /// </summary>
    public static Task<T> ScalarAsUserAsync<T>(NpgsqlConnection connection, Guid? user, string sql, params object?[] args) =>
        ScalarAsUserAsync<T>(connection, null, user, sql, args);

    /// <summary>As <see cref="ScalarAsUserAsync{T}(NpgsqlConnection, Guid?, string, object?[])"/>, inside <paramref name="transaction"/>, which it leaves open.</summary>
    public static Task<T> ScalarAsUserAsync<T>(NpgsqlTransaction transaction, Guid? user, string sql, params object?[] args) =>
        ScalarAsUserAsync<T>(transaction.Connection!, transaction, user, sql, args);

    private static async Task<T> ScalarAsUserAsync<T>(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid? user, string sql, object?[] args)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }
        var routed = DatabaseHost.IsRoutingConnectionString(connection.ConnectionString);
        var claims = user is null ? "" : $$"""{"sub":"{{user}}","role":"authenticated"}""";
        await using var batch = FunctionCaller.CallBatch(connection, transaction, claims, command, routed);
        await using var reader = await batch.ExecuteReaderAsync();
        if (!routed)
        {
            await reader.NextResultAsync();
        }
        await reader.ReadAsync();
        var value = reader.GetFieldValue<T>(0);
        // A commit that refuses raises here.
        while (await reader.NextResultAsync())
        {
        }
        return value;
    }

    /// <summary>
    /// A race: opens one serving-role connection per call first, then releases every call at the same
    /// moment; returns each call's JSON result in call order.
    /// </summary>
    public async Task<JsonElement[]> RunAtOnceAsync(IReadOnlyList<(Guid User, string Sql, object?[] Args)> calls)
    {
        var connections = new List<NpgsqlConnection>();
        foreach (var _ in calls)
        {
            connections.Add(await ServingDataSource.OpenConnectionAsync());
        }
        try
        {
            var start = new TaskCompletionSource();
            var tasks = calls.Select(async (call, i) =>
            {
                await start.Task;
                return await ScalarAsUserAsync<string>(connections[i], call.User, call.Sql, call.Args);
            }).ToList();
            start.SetResult();
            return (await Task.WhenAll(tasks)).Select(r => JsonDocument.Parse(r).RootElement.Clone()).ToArray();
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// True once backend <paramref name="pid"/> waits on a lock; false when <paramref name="call"/> ended first (or
    /// after 5 s). On Citus the coordinator's backend waits for a worker, where the lock is: its distributed
    /// wait is read from <c>citus_lock_waits</c> (a coordinator backend's global pid is 10^10 × its node id + pid).
    /// </summary>
    public async Task<bool> WaitsOnALockAsync(int pid, Task call)
    {
        var waits = TestCluster.OnCitus
            ? "select exists (select 1 from citus_lock_waits where waiting_gpid = citus_nodeid_for_gpid(citus_backend_gpid()) * 10000000000 + $1)"
            : "select coalesce(bool_or(wait_event_type = 'Lock'), false) from pg_stat_activity where pid = $1";
        for (var attempt = 0; attempt < 100 && !call.IsCompleted; attempt++)
        {
            if (await ScalarAsync<bool>(waits, pid))
            {
                return true;
            }
            await Task.Delay(50);
        }
        return false;
    }

    /// <summary>
    /// The constraint <paramref name="e"/> violated, as the schema names it, read the way the product reads
    /// it (<c>platform.violated_constraint</c>): on Citus a violation relayed from a worker carries no
    /// constraint name, only the shard's copy of it in the message.
    /// </summary>
    public Task<string> ViolatedConstraintAsync(PostgresException e) =>
        ScalarAsync<string>("select platform.violated_constraint($1, $2)", e.ConstraintName, e.MessageText);

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
