using System.Net;
using System.Net.Sockets;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Tests.Platform.Database;

public sealed class EmbeddedPostgresTests
{
    [Fact]
    public async Task StartAsync_WhenFolderIsEmpty_CreatesLoopbackClusterThatStopsCleanlyAndKeepsDataForNextStart()
    {
        await using var folder = new ClusterFolder();

        var first = folder.Cluster();
        await first.StartAsync();
        try
        {
            Assert.StartsWith(folder.Path, first.DataDirectory, StringComparison.Ordinal);
            await using var connection = new NpgsqlConnection(first.ConnectionString);
            await connection.OpenAsync();
            Assert.Equal("127.0.0.1", await ScalarAsync<string>(connection, "show listen_addresses"));
            Assert.Equal("", await ScalarAsync<string>(connection, "show unix_socket_directories"));
            Assert.Equal("lockstep", await ScalarAsync<string>(connection, "select current_database()"));
            await ExecuteAsync(connection, "create table kept (v int); insert into kept values (42)");
            if (Environment.IsPrivilegedProcess)
            {
                Assert.Equal(PostgresUid(), ProcessUid(folder.PostmasterPid(first)));
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await first.StopAsync();
        }
        Assert.Empty(folder.Processes());

        var second = folder.Cluster();
        await second.StartAsync();
        try
        {
            await using var connection = new NpgsqlConnection(second.ConnectionString);
            await connection.OpenAsync();
            Assert.Equal(42, await ScalarAsync<int>(connection, "select v from kept"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await second.StopAsync();
        }
        Assert.Empty(folder.Processes());
    }

    [Fact]
    public async Task StartAsync_WhenAnotherProcessRunsTheClusterInThatFolder_RefusesAndLeavesItRunning()
    {
        await using var folder = new ClusterFolder();
        var running = folder.Cluster();
        await running.StartAsync();
        try
        {
            var pid = folder.PostmasterPid(running);

            var e = await Assert.ThrowsAsync<EmbeddedPostgresException>(() => folder.Cluster().StartAsync());

            Assert.Contains("Another Lockstep process", e.Message, StringComparison.Ordinal);
            Assert.Equal(pid, folder.PostmasterPid(running));
            await using var connection = new NpgsqlConnection(running.ConnectionString);
            await connection.OpenAsync();
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await running.StopAsync();
        }
    }

    [Fact]
    public async Task StartAsync_WhenKilledRunLeftItsPostmasterRunning_StopsItAndStartsOnTheSamePort()
    {
        await using var folder = new ClusterFolder();
        var port = ClusterFolder.FreePort();
        var killedRun = folder.Cluster(port);
        await killedRun.StartAsync();
        await killedRun.StopAsync();
        await folder.StartOwnerlessPostmasterAsync(killedRun, port);
        var leftover = folder.PostmasterPid(killedRun);

        var next = folder.Cluster(port);
        await next.StartAsync();
        try
        {
            Assert.NotEqual(leftover, folder.PostmasterPid(next));
            Assert.DoesNotContain(leftover, folder.Processes());
            await using var connection = new NpgsqlConnection(next.ConnectionString);
            await connection.OpenAsync();
            Assert.Equal(1, await ScalarAsync<int>(connection, "select 1"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await next.StopAsync();
        }
        Assert.Empty(folder.Processes());
    }

    [Fact]
    public async Task StartAsync_WhenCrashedRunsPidFileNamesALiveNonPostgresProcess_StartsAndKeepsCommittedData()
    {
        await using var folder = new ClusterFolder();
        var crashed = folder.Cluster();
        await crashed.StartAsync();
        await using (var connection = new NpgsqlConnection(crashed.ConnectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, "create table kept (v int); insert into kept values (7)");
        }
        NpgsqlConnection.ClearAllPools();
        var postmaster = folder.PostmasterPid(crashed);
        using (var process = System.Diagnostics.Process.GetProcessById(postmaster))
        {
            process.Kill();
        }
        await WaitUntilAsync(() => folder.Processes().Count == 0);
        await crashed.StopAsync(); // the crashed Lockstep process is gone too: its ownership lock is released
        // After a reboot the stale file's pid often belongs to some other live process: here, this one.
        var pidFile = Path.Combine(crashed.DataDirectory, "postmaster.pid");
        var lines = await File.ReadAllLinesAsync(pidFile);
        lines[0] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await File.WriteAllLinesAsync(pidFile, lines);

        var restarted = folder.Cluster();
        await restarted.StartAsync();
        try
        {
            await using var connection = new NpgsqlConnection(restarted.ConnectionString);
            await connection.OpenAsync();
            Assert.Equal(7, await ScalarAsync<int>(connection, "select v from kept"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await restarted.StopAsync();
        }
        Assert.Empty(folder.Processes());
    }

    [Fact]
    public async Task StartAsync_WhenStalePidIsNowAnotherClustersPostmasterWhosePathContainsOurs_LeavesThatClusterRunning()
    {
        await using var folder = new ClusterFolder();
        await using var outer = new ClusterFolder();
        await using var other = outer.EndingWith(folder);
        var ours = folder.Cluster();
        await ours.StartAsync();
        await ours.StopAsync();
        var theirs = other.Cluster();
        await theirs.StartAsync();
        try
        {
            var theirPostmaster = other.PostmasterPid(theirs);
            Assert.Contains(ours.DataDirectory, theirs.DataDirectory, StringComparison.Ordinal);
            await File.WriteAllTextAsync(Path.Combine(ours.DataDirectory, "postmaster.pid"), $"{theirPostmaster}\n{ours.DataDirectory}\n");

            var restarted = folder.Cluster();
            await restarted.StartAsync();
            await restarted.StopAsync();

            Assert.Contains(theirPostmaster, other.Processes());
            await using var connection = new NpgsqlConnection(theirs.ConnectionString);
            await connection.OpenAsync();
            Assert.Equal(1, await ScalarAsync<int>(connection, "select 1"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await theirs.StopAsync();
        }
    }

    [Fact]
    public async Task StartAsync_WhenPortIsTaken_ThrowsOneLineErrorNamingThePort()
    {
        await using var folder = new ClusterFolder();
        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            var port = ((IPEndPoint)taken.LocalEndpoint).Port;

            var error = await Assert.ThrowsAsync<EmbeddedPostgresException>(() => folder.Cluster(port).StartAsync());

            Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', error.Message);
            Assert.Empty(folder.Processes());
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public void Create_WhenBinDirHoldsNoServer_ThrowsOneLineErrorNamingTheFolder()
    {
        var bogus = Path.Combine(Path.GetTempPath(), "no-postgres-here-" + Guid.NewGuid().ToString("N")[..8]);

        var error = Assert.Throws<EmbeddedPostgresException>(() =>
            new EmbeddedPostgres(new EmbeddedPostgresOptions { DataDir = Path.GetTempPath(), BinDir = bogus }));

        Assert.Contains(bogus, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the killed postmaster to go away");
            await Task.Delay(50);
        }
    }

    private static string PostgresUid() =>
        File.ReadLines("/etc/passwd").Select(line => line.Split(':')).First(fields => fields[0] == "postgres")[2];

    private static string ProcessUid(int pid) =>
        File.ReadLines($"/proc/{pid}/status").First(line => line.StartsWith("Uid:", StringComparison.Ordinal))
            .Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
}
