using Lockstep.Platform.Database;
using Lockstep.Tests.Platform.Database;
using Npgsql;

namespace Lockstep.Tests.Support;

/// <summary>
/// A Citus cluster on this machine: a coordinator and two workers, each an embedded PostgreSQL of its own
/// started from <see cref="CitusInstallation"/>'s binaries, joined in <c>database</c> (the extension is
/// per database: a database copied from it on every node is a cluster too). Disposing stops the nodes and
/// deletes their folders, also those of a start that failed half-way.
/// </summary>
public sealed class CitusNodes : IAsyncDisposable
{
    private readonly List<(ClusterFolder Folder, EmbeddedPostgres Cluster)> _nodes = [];

    /// <summary>The coordinator first, then the workers.</summary>
    public IReadOnlyList<EmbeddedPostgres> Nodes { get; private set; } = [];

    public EmbeddedPostgres Coordinator => Nodes[0];

    /// <summary>The superuser's connection string of each node, in <see cref="Nodes"/>' order: the coordinator's password holds on all of them.</summary>
    public IReadOnlyList<string> ConnectionStrings => Nodes
        .Select(node => new NpgsqlConnectionStringBuilder(node.ConnectionString) { Password = new NpgsqlConnectionStringBuilder(Coordinator.ConnectionString).Password }.ConnectionString)
        .ToList();

    public async Task StartAsync(string database, IReadOnlyDictionary<string, string> settings)
    {
        Nodes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => StartNodeAsync(database, settings)));
        var password = new NpgsqlConnectionStringBuilder(Coordinator.ConnectionString).Password!;
        foreach (var node in Nodes)
        {
            // One password for the superuser on every node, handed to Citus for its node-to-node connections.
            await ExecuteAsync(node.ConnectionString, $"""
                create extension citus;
                alter role lockstep password '{password}';
                insert into pg_dist_authinfo (nodeid, rolename, authinfo) values (0, 'lockstep', 'password={password}');
                """);
        }
        var adding = string.Join(";\n", Nodes.Skip(1).Select(worker => $"select citus_add_node('127.0.0.1', {worker.Port})"));
        await ExecuteAsync(Coordinator.ConnectionString, $"select citus_set_coordinator_host('127.0.0.1', {Coordinator.Port});\n{adding}");
    }

    private async Task<EmbeddedPostgres> StartNodeAsync(string database, IReadOnlyDictionary<string, string> settings)
    {
        var folder = new ClusterFolder();
        var cluster = new EmbeddedPostgres(new EmbeddedPostgresOptions
        {
            DataDir = folder.Path,
            Port = 0,
            BinDir = CitusInstallation.BinDir,
            Database = database,
            Settings = new Dictionary<string, string>(settings)
            {
                ["shared_preload_libraries"] = "citus",
                // Every write that spans nodes commits by two-phase commit.
                ["max_prepared_transactions"] = settings.GetValueOrDefault("max_connections", "100"),
            },
        });
        lock (_nodes)
        {
            _nodes.Add((folder, cluster));
        }
        await cluster.StartAsync();
        return cluster;
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>All nodes at once: the test host may end the process soon after the run, and a node left running holds its folder.</summary>
    public async ValueTask DisposeAsync() =>
        await Task.WhenAll(_nodes.Select(async node =>
        {
            await node.Cluster.StopAsync();
            await node.Folder.DisposeAsync();
        }));
}
