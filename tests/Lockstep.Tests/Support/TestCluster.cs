using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Tests.Support;

/// <summary>
/// One throwaway PostgreSQL cluster per test run (the same embedded code the server uses), holding one
/// migrated template database; every test class gets a fresh copy of it. With
/// <c>LOCKSTEP_TEST_CLUSTER=citus</c> (the Citus pass of <c>./lockstep test</c>) the cluster is a Citus
/// coordinator with two workers (<see cref="CitusNodes"/>): the template is migrated, and so distributed,
/// through the coordinator, and each copy is made on every node under one name, so it is a cluster too.
/// </summary>
public static class TestCluster
{
    public const string TemplateName = "lockstep_template";
    private static readonly Lazy<Task<IReadOnlyList<string>>> Cluster = new(StartAsync);
    private static readonly SemaphoreSlim Creating = new(1, 1);

    public static bool OnCitus { get; } = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_CLUSTER") == "citus";

    /// <summary>The superuser's connection to the <c>postgres</c> database of the node tests connect to (the coordinator on Citus).</summary>
    public static async Task<string> AdminConnectionStringAsync() => AdminConnectionString((await Cluster.Value)[0]);

    private static string AdminConnectionString(string node) =>
        new NpgsqlConnectionStringBuilder(node) { Database = "postgres", Pooling = false }.ConnectionString;

    /// <summary>
    /// Creates a database copied from the migrated template and returns its connection string. On Citus
    /// the copy is made on every node; a database from <c>template0</c> only on the coordinator.
    /// </summary>
    public static async Task<string> CreateDatabaseAsync(string? name = null, bool fromTemplate = true)
    {
        var nodes = await Cluster.Value;
        name ??= "t_" + Guid.NewGuid().ToString("N")[..16];
        await Creating.WaitAsync();
        try
        {
            var template = fromTemplate ? TemplateName : "template0";
            await Task.WhenAll((fromTemplate ? nodes : nodes.Take(1)).Select(node => CitusNodes.ExecuteAsync(AdminConnectionString(node),
                $"create database \"{name}\" template \"{template}\" strategy file_copy")));
        }
        finally
        {
            Creating.Release();
        }
        return new NpgsqlConnectionStringBuilder(nodes[0]) { Database = name, MaxPoolSize = 200 }.ConnectionString;
    }

    private static async Task<IReadOnlyList<string>> StartAsync()
    {
        RemoveLeftoversOfEarlierRuns();
        // A throwaway cluster: durability is not the point, speed is.
        var settings = new Dictionary<string, string>
        {
            ["fsync"] = "off",
            ["synchronous_commit"] = "off",
            ["full_page_writes"] = "off",
            ["max_connections"] = "400",
        };
        var nodes = OnCitus ? await StartCitusAsync(settings) : [(await StartSingleAsync(settings)).ConnectionString];

        var template = new NpgsqlConnectionStringBuilder(nodes[0]) { Pooling = false }.ConnectionString;
        await using (var dataSource = NpgsqlDataSource.Create(template))
        {
            await MigrationRunner.BuiltIn(dataSource).ApplyAsync();
        }
        if (OnCitus)
        {
            await CloseTemplateAsync(nodes);
        }
        return nodes;
    }

    private static async Task<EmbeddedPostgres> StartSingleAsync(Dictionary<string, string> settings)
    {
        var root = Path.Combine(Path.GetTempPath(), "lockstep-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var cluster = new EmbeddedPostgres(new EmbeddedPostgresOptions { DataDir = root, Port = 0, Database = TemplateName, Settings = settings });
        await cluster.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            cluster.StopAsync().GetAwaiter().GetResult();
            Directory.Delete(root, recursive: true);
        };
        return cluster;
    }

    private static async Task<IReadOnlyList<string>> StartCitusAsync(Dictionary<string, string> settings)
    {
        var citus = new CitusNodes();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => citus.DisposeAsync().AsTask().GetAwaiter().GetResult();
        // Citus runs a maintenance daemon (a background worker) for every database that has the extension.
        settings["max_worker_processes"] = "200";
        // Four shards per worker rather than Citus's 32: still several shards on each node, so every multi-shard
        // and cross-node path runs, at a fraction of the fan-out on a 2-core machine.
        settings["citus.shard_count"] = "8";
        await citus.StartAsync(TemplateName, settings);
        return citus.ConnectionStrings;
    }

    /// <summary>
    /// A database is copied only while nobody is connected to its template, and Citus keeps a maintenance
    /// daemon connected to every database with the extension: the template stops taking connections
    /// and the daemons still connected are ended, on every node.
    /// </summary>
    private static async Task CloseTemplateAsync(IReadOnlyList<string> nodes)
    {
        await Task.WhenAll(nodes.Select(node => CitusNodes.ExecuteAsync(AdminConnectionString(node), $"""
            alter database "{TemplateName}" with allow_connections false;
            select pg_terminate_backend(pid) from pg_stat_activity where datname = '{TemplateName}';
            """)));
    }

    /// <summary>
    /// The test host often ends the process before the ProcessExit handler has deleted the folder.
    /// Other runs (other checkouts) may be using theirs right now: a folder is removed only when no
    /// process names it (its postmaster, initdb, pg_ctl) and it is old enough that no run is still
    /// creating its cluster there.
    /// </summary>
    private static void RemoveLeftoversOfEarlierRuns()
    {
        var inUse = CommandLines();
        foreach (var folder in Directory.EnumerateDirectories(Path.GetTempPath(), "lockstep-tests-*"))
        {
            if (Directory.GetLastWriteTimeUtc(folder) > DateTime.UtcNow.AddMinutes(-5)
                || inUse.Any(cmdline => cmdline.Contains(folder + "/", StringComparison.Ordinal)))
            {
                continue;
            }
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // another run is sweeping it at the same time
            }
        }
    }

    private static List<string> CommandLines()
    {
        var cmdlines = new List<string>();
        foreach (var process in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                cmdlines.Add(File.ReadAllText(Path.Combine(process, "cmdline")).Replace('\0', ' '));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // not a process, or it exited while we looked
            }
        }
        return cmdlines;
    }
}
