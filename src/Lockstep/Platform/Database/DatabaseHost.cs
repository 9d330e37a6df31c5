using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// Owns the database for the life of the process: the configured server, or the embedded cluster when
/// none is configured; applies migrations before the server accepts requests; stops the embedded
/// cluster on shutdown.
/// Two data sources: the owner's (migrations, operator commands) and the serving one (requests and
/// background workers), which acts as <see cref="ServingRole"/>: it may only execute functions. On the
/// embedded cluster the serving one logs in as that role itself.
/// </summary>
public sealed class DatabaseHost(IConfiguration configuration, ILogger<DatabaseHost> logger) : IHostedService, IAsyncDisposable
{
    /// <summary>The role the baseline migration creates: EXECUTE on the callable functions, nothing on tables.</summary>
    public const string ServingRole = "lockstep_api";

    private EmbeddedPostgres? _embedded;
    private NpgsqlDataSource? _ownerDataSource;
    private NpgsqlDataSource? _dataSource;

    /// <summary>For requests and background workers: connected as <see cref="ServingRole"/>.</summary>
    public NpgsqlDataSource DataSource =>
        _dataSource ?? throw new InvalidOperationException("The database is not started yet.");

    /// <summary>The owner of the schema: for migrations and operator commands (CLI, benches), never for requests.</summary>
    public NpgsqlDataSource OwnerDataSource =>
        _ownerDataSource ?? throw new InvalidOperationException("The database is not started yet.");

    /// <summary>True when Lockstep runs its own cluster (no database configured).</summary>
    public bool RunsEmbedded => _embedded is not null;

    /// <summary>False once the embedded cluster's postmaster is gone; always true on a configured database.</summary>
    public bool EmbeddedIsRunning => _embedded?.IsRunning() ?? true;

    /// <summary>
    /// Starts the embedded cluster again after its postmaster died. Same port, same role passwords: both
    /// data sources keep their connection strings, and only their pooled connections, all dead, are dropped.
    /// </summary>
    public async Task RestartEmbeddedAsync(CancellationToken cancellationToken)
    {
        var embedded = _embedded ?? throw new InvalidOperationException("Lockstep runs no embedded PostgreSQL.");
        await embedded.RestartAsync(cancellationToken);
        _dataSource?.Clear();
        _ownerDataSource?.Clear();
    }

    /// <summary>The connection string configured by <c>ConnectionStrings:Lockstep</c> or <c>DATABASE_URL</c>, if any.</summary>
    public static string? ConfiguredConnectionString(IConfiguration configuration)
    {
        var configured = configuration.GetConnectionString("Lockstep");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        var url = configuration["DATABASE_URL"];
        return string.IsNullOrWhiteSpace(url) ? null : FromUrl(url);
    }

    /// <summary>The data folder: <c>Lockstep:DataDir</c>, default <c>.lockstep</c> in the working directory.</summary>
    public static string DataDir(IConfiguration configuration) =>
        Path.GetFullPath(configuration["Lockstep:DataDir"] is { Length: > 0 } dir ? dir : ".lockstep");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var connectionString = ConfiguredConnectionString(configuration);
        if (connectionString is null)
        {
            _embedded = new EmbeddedPostgres(new EmbeddedPostgresOptions
            {
                DataDir = DataDir(configuration),
                Port = configuration.GetValue("Lockstep:Embedded:Port", 54329),
                BinDir = configuration["Lockstep:Embedded:BinDir"],
            });
            var started = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                await _embedded.StartAsync(cancellationToken);
            }
            catch
            {
                await _embedded.StopAsync();
                _embedded = null;
                throw;
            }
            logger.LogInformation("Embedded PostgreSQL in {DataDirectory} listening on 127.0.0.1:{Port} ({Elapsed} ms)",
                _embedded.DataDirectory, _embedded.Port, started.ElapsedMilliseconds);
            connectionString = _embedded.ConnectionString;
        }

        _ownerDataSource = CreateDataSource(connectionString, configuration);
        var applied = await MigrationRunner.BuiltIn(_ownerDataSource).ApplyAsync(cancellationToken);
        logger.LogInformation("Migrations: {Applied} applied now, {Total} known; definitions: {DefinitionsApplied} applied now, {DefinitionsTotal} known",
            applied.Migrations.Count, Migration.BuiltIn.Count, applied.Definitions.Count, Definition.BuiltIn.Count);
        foreach (var line in applied.Distributed.Concat(applied.Routing))
        {
            logger.LogInformation("Citus: {Change}", line);
        }
        // On our own cluster the role itself logs in (the migrations have just created it): no session of
        // the serving pool is ever the superuser, so no SQL sent over it can switch back to the owner.
        var serving = _embedded is null
            ? ServingConnectionString(connectionString, configuration)
            : await _embedded.LoginAsync(ServingRole, cancellationToken);
        await using (var connection = await _ownerDataSource.OpenConnectionAsync(cancellationToken))
        {
            OnCitus = await CitusDistribution.IsInstalledAsync(connection, cancellationToken);
        }
        _dataSource = CreateDataSource(OnCitus ? RoutingConnectionString(serving) : serving, configuration);
    }

    /// <summary>
    /// True when the database has the <c>citus</c> extension, decided once at start: calls are then sent in
    /// the shape Citus delegates to a worker (<see cref="FunctionCaller"/>).
    /// </summary>
    public bool OnCitus { get; private set; }

    /// <summary>
    /// The serving connection on Citus: <c>citus.propagate_set_commands = local</c> for the session, so the
    /// caller's claims, set with <c>set local</c>, travel with a call delegated to a worker; and
    /// <c>citus.max_adaptive_executor_pool_size = 1</c>, so a query that reads every shard (a call named by an
    /// id alone looks its workspace up first) reads each worker's shards over the one connection Citus keeps
    /// to it instead of opening more: 20 callers of the id-only <c>use_session</c> on one pack went from 5 to
    /// 46 calls a second on the test cluster.
    /// </summary>
    public static string RoutingConnectionString(string servingConnectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(servingConnectionString);
        builder.Options = $"{builder.Options} {RoutingOption}".Trim();
        return builder.ConnectionString;
    }

    private const string RoutingOption = "-c citus.propagate_set_commands=local -c citus.max_adaptive_executor_pool_size=1";

    /// <summary>True for a connection string <see cref="RoutingConnectionString"/> made.</summary>
    public static bool IsRoutingConnectionString(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString).Options?.Contains(RoutingOption, StringComparison.Ordinal) == true;

    /// <summary>
    /// For a configured database: <c>ConnectionStrings:LockstepApi</c> when set (a login role that is a
    /// member of <see cref="ServingRole"/> and nothing else: the separation holds against any SQL);
    /// otherwise the owner's connection with <c>-c role=lockstep_api</c> as a startup option. The role
    /// then holds for the whole session, also across Npgsql's RESET ALL and <c>reset role</c>, but the
    /// session is still the owner's login: <c>set role</c> back to it (or, for a superuser owner,
    /// <c>set session authorization</c>) leaves the role. Only the server never sending such SQL (it
    /// sends fixed, parameterised statements) keeps it in place.
    /// </summary>
    public static string ServingConnectionString(string ownerConnectionString, IConfiguration configuration)
    {
        var dedicated = configuration.GetConnectionString("LockstepApi");
        if (!string.IsNullOrWhiteSpace(dedicated))
        {
            return dedicated;
        }
        var builder = new NpgsqlConnectionStringBuilder(ownerConnectionString);
        builder.Options = $"{builder.Options} -c role={ServingRole}".Trim();
        return builder.ConnectionString;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
            _dataSource = null;
        }
        if (_ownerDataSource is not null)
        {
            await _ownerDataSource.DisposeAsync();
            _ownerDataSource = null;
        }
        if (_embedded is not null)
        {
            await _embedded.StopAsync();
            logger.LogInformation("Embedded PostgreSQL stopped");
            _embedded = null;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    /// <summary>Four connections per core, at least eight: <c>Lockstep:Database:MaxPoolSize</c> when the database has other cores.</summary>
    public static int DefaultMaxPoolSize => Math.Max(8, 4 * Environment.ProcessorCount);

    public static NpgsqlDataSource CreateDataSource(string connectionString, IConfiguration configuration)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            ApplicationName = "lockstep",
            // Npgsql redacts DETAIL by default; PostgREST's error body carries it as `details`, and the
            // problem mapping tells a missing reference from a still-referenced row by reading it.
            IncludeErrorDetail = true,
        };
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 64;
        }
        // A connection back in the pool is not reset (Npgsql would prepend RESET ALL, DISCARD SEQUENCES,
        // DISCARD TEMP, UNLISTEN *, ... to its next command: seven statements of server work per call).
        // Nothing needs it: the claims are set with set_config(..., true) and end with the call's
        // transaction, and the functions keep no session state. Measured in bench/README.md.
        if (!configuration.GetValue("Lockstep:Database:ResetOnClose", false))
        {
            builder.NoResetOnClose = true;
        }
        // Fail fast while the database is down: a bounded connect and command time, then 503.
        var connectTimeout = configuration.GetValue<int?>("Lockstep:Database:ConnectTimeoutSeconds");
        if (connectTimeout is not null || builder.Timeout == 15)
        {
            builder.Timeout = connectTimeout ?? 5;
        }
        var commandTimeout = configuration.GetValue<int?>("Lockstep:Database:CommandTimeoutSeconds");
        if (commandTimeout is not null)
        {
            builder.CommandTimeout = commandTimeout.Value;
        }
        if (builder.KeepAlive == 0)
        {
            builder.KeepAlive = 10;
        }
        // A few busy backends per core beat many: past that, backends only queue on locks and evict
        // each other from the CPU caches (bench/README.md, tuning item 8). Npgsql's own default is 100.
        var pool = configuration.GetValue<int?>("Lockstep:Database:MaxPoolSize");
        if (pool is not null || builder.MaxPoolSize == 100)
        {
            builder.MaxPoolSize = pool ?? DefaultMaxPoolSize;
        }
        return new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
    }

    /// <summary>Turns <c>postgres://user:password@host:port/database?sslmode=require</c> into a connection string.</summary>
    public static string FromUrl(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql"))
        {
            throw new InvalidOperationException("DATABASE_URL must look like postgres://user:password@host:port/database");
        }
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
        };
        var userInfo = uri.UserInfo.Split(':', 2);
        if (userInfo[0].Length > 0)
        {
            builder.Username = Uri.UnescapeDataString(userInfo[0]);
        }
        if (userInfo.Length == 2)
        {
            builder.Password = Uri.UnescapeDataString(userInfo[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            if (kv[0] == "sslmode" && kv.Length == 2 && Enum.TryParse<SslMode>(kv[1].Replace("-", ""), ignoreCase: true, out var mode))
            {
                builder.SslMode = mode;
            }
        }
        return builder.ConnectionString;
    }
}
