using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Tests.Support;

/// <summary>
/// One throwaway PostgreSQL cluster per test run (the same embedded code the server uses), holding one
/// migrated template database; every test class gets a fresh copy of it.
/// </summary>
public static class TestCluster
{
    public const string TemplateName = "lockstep_template";
    private static readonly Lazy<Task<EmbeddedPostgres>> Cluster = new(StartAsync);
    private static readonly SemaphoreSlim Creating = new(1, 1);
    private static string? _root;

    public static async Task<string> AdminConnectionStringAsync()
    {
        var cluster = await Cluster.Value;
        return new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Database = "postgres", Pooling = false }.ConnectionString;
    }

    /// <summary>Creates a database copied from the migrated template and returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(string? name = null, bool fromTemplate = true)
    {
        var cluster = await Cluster.Value;
        name ??= "t_" + Guid.NewGuid().ToString("N")[..16];
        await Creating.WaitAsync();
        try
        {
            await using var connection = new NpgsqlConnection(await AdminConnectionStringAsync());
            await connection.OpenAsync();
            var template = fromTemplate ? TemplateName : "template0";
            await using var create = new NpgsqlCommand($"create database \"{name}\" template \"{template}\" strategy file_copy", connection);
            await create.ExecuteNonQueryAsync();
        }
        finally
        {
            Creating.Release();
        }
        return new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Database = name, MaxPoolSize = 200 }.ConnectionString;
    }

    private static async Task<EmbeddedPostgres> StartAsync()
    {
        RemoveLeftoversOfEarlierRuns();
        _root = Path.Combine(Path.GetTempPath(), "lockstep-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_root);
        var cluster = new EmbeddedPostgres(new EmbeddedPostgresOptions
        {
            DataDir = _root,
            Port = 0,
            Database = TemplateName,
            // A throwaway cluster: durability is not the point, speed is.
            Settings = new Dictionary<string, string>
            {
                ["fsync"] = "off",
                ["synchronous_commit"] = "off",
                ["full_page_writes"] = "off",
                ["max_connections"] = "400",
            },
        });
        await cluster.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            cluster.StopAsync().GetAwaiter().GetResult();
            Directory.Delete(_root, recursive: true);
        };

        var template = new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Pooling = false }.ConnectionString;
        await using (var dataSource = NpgsqlDataSource.Create(template))
        {
            await MigrationRunner.BuiltIn(dataSource).ApplyAsync();
        }
        return cluster;
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
