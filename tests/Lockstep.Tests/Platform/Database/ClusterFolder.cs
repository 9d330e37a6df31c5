using System.Net;
using System.Net.Sockets;
using Lockstep.Platform.Database;

namespace Lockstep.Tests.Platform.Database;

/// <summary>
/// A temporary data folder for one test's own embedded cluster. Disposing stops whatever still runs
/// there, so a failed assertion never leaves a server behind, and deletes the folder.
/// </summary>
internal sealed class ClusterFolder : IAsyncDisposable
{
    public ClusterFolder()
    {
        // The lockstep-tests- prefix lets TestCluster sweep it up if this run is killed before disposing.
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lockstep-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    private ClusterFolder(string path)
    {
        Path = path;
        Directory.CreateDirectory(Path);
    }

    /// <summary>A folder inside this one whose full path ends with <paramref name="other"/>'s.</summary>
    public ClusterFolder EndingWith(ClusterFolder other) => new(Path + other.Path);

    public string Path { get; }

    public EmbeddedPostgres Cluster(int port = 0) => new(new EmbeddedPostgresOptions
    {
        DataDir = Path,
        Port = port,
        // fsync only guards against the machine losing power; a killed server must still keep every commit.
        Settings = new Dictionary<string, string> { ["fsync"] = "off" },
    });

    /// <summary>Postgres processes started for this folder (the postmaster carries <c>-D folder</c> on its command line).</summary>
    public IReadOnlyList<int> Processes()
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                if (File.ReadAllText(System.IO.Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(Path, StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the process exited while we looked
            }
        }
        return pids;
    }

    public int PostmasterPid(EmbeddedPostgres cluster) =>
        int.Parse(File.ReadLines(System.IO.Path.Combine(cluster.DataDirectory, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Starts the folder's (already created) cluster with pg_ctl directly, as a killed Lockstep leaves it:
    /// a postmaster running with nobody holding the ownership lock.
    /// </summary>
    public async Task StartOwnerlessPostmasterAsync(EmbeddedPostgres cluster, int port)
    {
        var pgCtl = System.IO.Path.Combine(PostgresBinaries.Find(null), "pg_ctl");
        var start = new System.Diagnostics.ProcessStartInfo("runuser")
        {
            ArgumentList = { "-u", "postgres", "--", pgCtl, "start", "-w", "-D", cluster.DataDirectory, "-l", System.IO.Path.Combine(Path, "postgres", "ownerless.log"),
                "-o", $"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" },
            RedirectStandardOutput = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster().StopAsync();
        foreach (var pid in Processes())
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // it exited on its own meanwhile
            }
        }
        Directory.Delete(Path, recursive: true);
    }
}
