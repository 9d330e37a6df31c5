using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>Settings of the private PostgreSQL cluster Lockstep runs when no database is configured.</summary>
public sealed record EmbeddedPostgresOptions
{
    /// <summary>The data folder; the cluster lives in its <c>postgres/</c> subfolder.</summary>
    public required string DataDir { get; init; }

    /// <summary>TCP port on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; init; } = 54329;

    public string? BinDir { get; init; }

    public string Database { get; init; } = "lockstep";

    /// <summary>Extra <c>-c name=value</c> server settings.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A private PostgreSQL cluster under the data folder, made from the machine's binaries: created on the
/// first start, reused afterwards, listening on loopback only, stopped by <see cref="StopAsync"/>.
/// </summary>
public sealed class EmbeddedPostgres
{
    private const string SuperUser = "lockstep";
    private readonly EmbeddedPostgresOptions _options;
    private readonly string _binDir;
    private readonly string _root;
    private readonly string _clusterRoot;
    private readonly string _pgData;
    private readonly string _passwordFile;
    private readonly string _lockFile;
    private FileStream? _ownership;
    private readonly bool _asPostgresUser = Environment.IsPrivilegedProcess;

    public EmbeddedPostgres(EmbeddedPostgresOptions options)
    {
        _options = options;
        _binDir = PostgresBinaries.Find(options.BinDir);
        _root = Path.GetFullPath(options.DataDir);
        _clusterRoot = Path.Combine(_root, "postgres");
        _pgData = Path.Combine(_clusterRoot, "data");
        _passwordFile = Path.Combine(_root, "postgres-password");
        _lockFile = Path.Combine(_root, "postgres.lock");
    }

    public int Port { get; private set; }

    public string ConnectionString { get; private set; } = "";

    public string DataDirectory => _pgData;

    /// <summary>Creates the cluster if needed, recovers from a crashed earlier run and starts it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        TakeOwnership();
        if (!File.Exists(Path.Combine(_pgData, "PG_VERSION")))
        {
            await InitAsync(cancellationToken);
        }
        else if (!File.Exists(_passwordFile))
        {
            throw new EmbeddedPostgresException(
                $"The cluster in {_pgData} has no password file {_passwordFile}; delete {_clusterRoot} to start afresh.");
        }

        await RecoverFromEarlierRunAsync(cancellationToken);
        Port = _options.Port == 0 ? FreePort() : EnsurePortFree(_options.Port);
        await RunServerAsync(cancellationToken);
    }

    /// <summary>
    /// Starts the cluster again after its postmaster died, on the same port, so every connection string
    /// made for it still holds. Never creates a cluster: a data folder gone missing stays an error.
    /// </summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Path.Combine(_pgData, "PG_VERSION")))
        {
            throw new EmbeddedPostgresException($"The cluster in {_pgData} has no PG_VERSION any more; it cannot be started again.");
        }
        await RecoverFromEarlierRunAsync(cancellationToken);
        await RunServerAsync(cancellationToken);
    }

    /// <summary>True while the postmaster named in <c>postmaster.pid</c> is alive and runs this cluster.</summary>
    public bool IsRunning()
    {
        try
        {
            return int.TryParse(File.ReadLines(Path.Combine(_pgData, "postmaster.pid")).FirstOrDefault(), out var pid) && IsOurPostmaster(pid);
        }
        catch (IOException)
        {
            return false; // no pid file: the server is gone, or was stopped
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private async Task RunServerAsync(CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string>(_options.Settings)
        {
            ["listen_addresses"] = "127.0.0.1",
            ["port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["unix_socket_directories"] = "''",
        };
        var serverOptions = string.Join(' ', settings.Select(s => $"-c {s.Key}={s.Value}"));
        var log = Path.Combine(_clusterRoot, "server.log");
        var start = await RunAsync("pg_ctl", ["start", "-w", "-t", "60", "-D", _pgData, "-l", log, "-o", serverOptions], cancellationToken);
        if (start.ExitCode != 0)
        {
            throw new EmbeddedPostgresException(
                $"PostgreSQL did not start ({LastLine(start.Output)}); see {log}: {LastLine(TryRead(log))}");
        }

        ConnectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = SuperUser,
            Password = (await File.ReadAllTextAsync(_passwordFile, cancellationToken)).Trim(),
            Database = _options.Database,
        }.ConnectionString;
        await EnsureDatabaseAsync(cancellationToken);
    }

    /// <summary>
    /// Lets the existing <paramref name="role"/> log in, as no superuser, with its own password (generated
    /// once, kept 0600 beside the superuser's) and returns its connection string. Done on every start, so
    /// the role and the file agree even after either was replaced.
    /// </summary>
    public async Task<string> LoginAsync(string role, CancellationToken cancellationToken = default)
    {
        var file = Path.Combine(_root, $"postgres-{role}-password");
        var password = File.Exists(file) ? (await File.ReadAllTextAsync(file, cancellationToken)).Trim() : "";
        if (password.Length == 0)
        {
            password = NewPassword();
            await WriteSecretAsync(file, password, cancellationToken);
        }
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            // The verifier, not the password: a failed statement is written to the server log with its text.
            await using var alter = new NpgsqlCommand(
                $"alter role \"{role.Replace("\"", "\"\"", StringComparison.Ordinal)}\" login nosuperuser nocreaterole nocreatedb noreplication nobypassrls"
                + $" password '{ScramVerifier(password).Replace("'", "''", StringComparison.Ordinal)}'",
                connection);
            await alter.ExecuteNonQueryAsync(cancellationToken);
        }
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Username = role, Password = password }.ConnectionString;
    }

    /// <summary>
    /// PostgreSQL's SCRAM-SHA-256 verifier of <paramref name="password"/> (RFC 7677, stored as given by
    /// <c>alter role ... password</c>): proves a password at login without revealing it.
    /// </summary>
    internal static string ScramVerifier(string password)
    {
        const int iterations = 4096;
        var salt = RandomNumberGenerator.GetBytes(16);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        var storedKey = SHA256.HashData(HMACSHA256.HashData(salted, "Client Key"u8));
        var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
        return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }

    internal static string NewPassword() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();

    /// <summary>Writes a file readable by this user only from the moment it exists.</summary>
    private static async Task WriteSecretAsync(string path, string secret, CancellationToken cancellationToken)
    {
        File.Delete(path);
        await using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        await stream.WriteAsync(Encoding.UTF8.GetBytes(secret), cancellationToken);
    }

    /// <summary>Stops the cluster (fast shutdown: open transactions are rolled back, nothing is lost).</summary>
    public async Task StopAsync()
    {
        if (_ownership is null)
        {
            return; // never started, or the cluster belongs to another process
        }
        if (File.Exists(Path.Combine(_pgData, "postmaster.pid")))
        {
            await RunAsync("pg_ctl", ["stop", "-w", "-t", "60", "-m", "fast", "-D", _pgData], CancellationToken.None);
        }
        await _ownership.DisposeAsync();
        _ownership = null;
    }

    /// <summary>
    /// An exclusive lock on a file beside the cluster, held while this process runs it. The kernel drops it
    /// when the process dies, so a postmaster found running without it is a leftover of a crashed run,
    /// never the cluster of a live sibling process.
    /// </summary>
    private void TakeOwnership()
    {
        if (_ownership is not null)
        {
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(_lockFile)!);
        try
        {
            _ownership = new FileStream(_lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new EmbeddedPostgresException(
                $"Another Lockstep process is running the embedded PostgreSQL in {Path.GetDirectoryName(_lockFile)}; stop it or set Lockstep:DataDir to another folder.");
        }
    }

    private async Task InitAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_clusterRoot);
        if (_asPostgresUser)
        {
            await RunCheckedAsync("chown", ["-R", "postgres:postgres", _clusterRoot], false, cancellationToken);
            var reach = await RunAsync("test", ["-w", _clusterRoot], cancellationToken);
            if (reach.ExitCode != 0)
            {
                throw new EmbeddedPostgresException(
                    $"The postgres OS user cannot reach {_clusterRoot} (initdb refuses root, so the cluster runs as postgres); "
                    + "set Lockstep:DataDir to a folder it can reach, e.g. /var/lib/lockstep.");
            }
        }

        var password = NewPassword();
        var pwFile = Path.Combine(_clusterRoot, "initdb-pwfile");
        await WriteSecretAsync(pwFile, password, cancellationToken);
        try
        {
            if (_asPostgresUser)
            {
                await RunCheckedAsync("chown", ["postgres:postgres", pwFile], false, cancellationToken);
            }
            var init = await RunAsync("initdb",
                ["-D", _pgData, "-U", SuperUser, "--auth=scram-sha-256", $"--pwfile={pwFile}", "--encoding=UTF8", "--locale=C", "--no-instructions"],
                cancellationToken);
            if (init.ExitCode != 0)
            {
                if (Directory.Exists(_pgData))
                {
                    Directory.Delete(_pgData, recursive: true);
                }
                throw new EmbeddedPostgresException($"initdb failed: {LastLine(init.Output)}");
            }
        }
        finally
        {
            File.Delete(pwFile);
        }

        await WriteSecretAsync(_passwordFile, password, cancellationToken);
    }

    /// <summary>
    /// A crashed run leaves postmaster.pid behind, and sometimes a server still running. PostgreSQL
    /// refuses to start while the file names a live process, even an unrelated one that reused the pid,
    /// or a killed postmaster not reaped yet (a zombie, whose command line is empty). Deleting the file
    /// is safe: PostgreSQL still refuses to start while a backend of the dead server holds its shared memory.
    /// </summary>
    private async Task RecoverFromEarlierRunAsync(CancellationToken cancellationToken)
    {
        var pidFile = Path.Combine(_pgData, "postmaster.pid");
        if (!File.Exists(pidFile))
        {
            return;
        }
        var firstLine = File.ReadLines(pidFile).FirstOrDefault();
        if (int.TryParse(firstLine, out var pid) && IsOurPostmaster(pid))
        {
            await RunAsync("pg_ctl", ["stop", "-w", "-t", "60", "-m", "fast", "-D", _pgData], cancellationToken);
        }
        if (File.Exists(pidFile))
        {
            File.Delete(pidFile);
        }
    }

    private bool IsOurPostmaster(int pid)
    {
        try
        {
            // Whole arguments, not substrings: another cluster's data folder may contain our path.
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return Path.GetFileName(args[0]) == "postgres" && args.Contains(_pgData, StringComparer.Ordinal);
        }
        catch (IOException)
        {
            return false; // no such process
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private async Task EnsureDatabaseAsync(CancellationToken cancellationToken)
    {
        var admin = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = $1", connection)
        {
            Parameters = { new() { Value = _options.Database } },
        };
        if (await exists.ExecuteScalarAsync(cancellationToken) is not null)
        {
            return;
        }
        try
        {
            await using var create = new NpgsqlCommand($"create database \"{_options.Database}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
        {
            // another server on the same cluster created it first
        }
    }

    private static int EnsurePortFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return port;
        }
        catch (SocketException)
        {
            throw new EmbeddedPostgresException(
                $"Port {port} on 127.0.0.1 is taken; set Lockstep:Embedded:Port (env Lockstep__Embedded__Port) to a free port.");
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private async Task RunCheckedAsync(string program, string[] args, bool asPostgres, CancellationToken cancellationToken)
    {
        var result = await RunProcessAsync(program, args, asPostgres, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new EmbeddedPostgresException($"{program} failed: {LastLine(result.Output)}");
        }
    }

    private Task<(int ExitCode, string Output)> RunAsync(string program, string[] args, CancellationToken cancellationToken)
    {
        var path = program is "test" ? "test" : Path.Combine(_binDir, program);
        return RunProcessAsync(path, args, _asPostgresUser, cancellationToken);
    }

    private static async Task<(int ExitCode, string Output)> RunProcessAsync(
        string program, string[] args, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = "/",
        };
        if (asPostgres)
        {
            foreach (var prefix in new[] { "-u", "postgres", "--", program })
            {
                start.ArgumentList.Add(prefix);
            }
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new EmbeddedPostgresException($"Could not run {program}.");
        process.StandardInput.Close();
        // pg_ctl's server inherits the pipes only if we let it; -l sends its output to the log file,
        // so reading to the end here returns once pg_ctl itself exits.
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, (await stdout) + (await stderr));
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no output";

    private static string TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
