using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>An applied migration file was edited, the database knows one this build does not, or a file failed.</summary>
public sealed class MigrationException(string message) : Exception(message);

/// <summary>
/// What one <see cref="MigrationRunner.ApplyAsync"/> applied: migration names, definition names, then on Citus
/// the tables it put under Citus, and the routing it set up (functions delegated by workspace, the serving
/// role's node credentials), one line each (see <see cref="CitusDistribution"/>).
/// </summary>
public sealed record SchemaChanges(
    IReadOnlyList<string> Migrations, IReadOnlyList<string> Definitions, IReadOnlyList<string> Distributed, IReadOnlyList<string> Routing);

/// <summary>
/// Brings a database to this build's schema under one session advisory lock, so concurrent starts take
/// turns and two servers starting on one database apply every file exactly once:
/// first the migrations that are missing, in order, each in its own transaction, recorded with a
/// checksum in <c>platform.schema_migrations</c>; then the definitions whose checksum differs from the one
/// recorded in <c>platform.schema_definitions</c> (all of them after any migration ran), together in one
/// transaction, so a start never serves a half-applied set; on a database with Citus, last, the tables
/// Citus does not know yet are distributed (<see cref="CitusDistribution"/>).
/// </summary>
public sealed class MigrationRunner(NpgsqlDataSource dataSource, IReadOnlyList<Migration> migrations, IReadOnlyList<Definition> definitions)
{
    // Any constant works; it only has to be the same for every Lockstep process.
    private const long AdvisoryLockKey = 0x4c6f636b73746570; // "Lockstep"

    /// <summary>The migrations squashed into 0001_baseline.sql: a database that has them predates it.</summary>
    private static readonly string[] SquashedMigrations =
    [
        "0001_platform_workspaces.sql", "0002_crm_clients_contacts.sql", "0003_leads_conversations_messages.sql",
        "0004_sessions_packs_bookings.sql", "0005_gifts_wishlists_claims.sql", "0006_platform_idempotency.sql",
        "0007_platform_least_privilege.sql", "0008_platform_audit.sql",
    ];

    /// <summary>The runner for this build's own migrations and definitions.</summary>
    public static MigrationRunner BuiltIn(NpgsqlDataSource dataSource) => new(dataSource, Migration.BuiltIn, Definition.BuiltIn);

    /// <summary>Applies what is missing or changed and says what it applied now.</summary>
    public async Task<SchemaChanges> ApplyAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, $"select pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, """
                create schema if not exists platform;
                create table if not exists platform.schema_migrations (
                  name text primary key,
                  checksum text not null,
                  applied_at timestamptz not null default now());
                create table if not exists platform.schema_definitions (
                  name text primary key,
                  checksum text not null,
                  applied_at timestamptz not null default now())
                """, cancellationToken);

            var citus = await CitusDistribution.IsInstalledAsync(connection, cancellationToken);
            var appliedMigrations = await ApplyMigrationsAsync(connection, citus, cancellationToken);
            var appliedDefinitions = await ApplyDefinitionsAsync(connection, citus, reapplyAll: appliedMigrations.Count > 0, cancellationToken);
            var distributed = citus ? await CitusDistribution.DistributeAsync(connection, cancellationToken) : [];
            var routing = citus ? await RoutingAsync(connection, cancellationToken) : [];
            return new SchemaChanges(appliedMigrations, appliedDefinitions, distributed, routing);
        }
        finally
        {
            await ExecuteAsync(connection, $"select pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
        }
    }

    private static async Task<List<string>> RoutingAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var routing = (await CitusDistribution.DelegateFunctionsAsync(connection, cancellationToken))
            .Select(function => $"{function}: delegated by p_workspace_id, colocated with platform.workspaces")
            .ToList();
        if (await CitusDistribution.LetServingRoleReachWorkersAsync(connection, cancellationToken))
        {
            routing.Add($"{DatabaseHost.ServingRole}: may log in to the workers, its password in pg_dist_authinfo");
        }
        return routing;
    }

    /// <summary>True when every migration of this build is applied (checksums are not compared here).</summary>
    public async Task<bool> IsCurrentAsync(CancellationToken cancellationToken = default)
    {
        var names = migrations.Select(m => m.Name).ToArray();
        try
        {
            // Through a function: the serving role cannot read platform.schema_migrations.
            return await CountAppliedAsync("select count(*) from platform.applied_migrations() as name where name = any($1)", names, cancellationToken)
                == migrations.Count;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedFunction or PostgresErrorCodes.InvalidSchemaName)
        {
            // A database (or a migration set) without that function: read the table, as its owner.
        }
        try
        {
            return await CountAppliedAsync("select count(*) from platform.schema_migrations where name = any($1)", names, cancellationToken)
                == migrations.Count;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            return false;
        }
    }

    private async Task<List<string>> ApplyMigrationsAsync(NpgsqlConnection connection, bool citus, CancellationToken cancellationToken)
    {
        var applied = await ReadRecordedAsync(connection, "platform.schema_migrations", cancellationToken);
        Verify(applied);

        var appliedNow = new List<string>();
        foreach (var migration in migrations.Where(m => !applied.ContainsKey(m.Name)))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            if (citus)
            {
                await CitusDistribution.AllowTriggersAsync(connection, cancellationToken);
            }
            await RunFileAsync(connection, $"Migration {migration.Name}", migration.Sql, cancellationToken);
            await RecordAsync(connection, "platform.schema_migrations", migration.Name, migration.Checksum, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            appliedNow.Add(migration.Name);
        }
        return appliedNow;
    }

    private async Task<List<string>> ApplyDefinitionsAsync(NpgsqlConnection connection, bool citus, bool reapplyAll, CancellationToken cancellationToken)
    {
        var recorded = await ReadRecordedAsync(connection, "platform.schema_definitions", cancellationToken);
        var changed = definitions
            .Where(d => reapplyAll || !recorded.TryGetValue(d.Name, out var checksum) || checksum != d.Checksum)
            .ToList();
        var gone = recorded.Keys.Where(name => definitions.All(d => d.Name != name)).ToList();
        if (changed.Count == 0 && gone.Count == 0)
        {
            return [];
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Function bodies are checked once all files are in (below), so a function may call one that a
        // later file defines.
        await ExecuteAsync(connection, "set local check_function_bodies = off", cancellationToken);
        if (citus)
        {
            await CitusDistribution.AllowTriggersAsync(connection, cancellationToken);
        }
        foreach (var definition in changed)
        {
            await RunFileAsync(connection, $"Definition db/functions/{definition.Name}", definition.Sql, cancellationToken);
        }
        await ExecuteAsync(connection, "set local check_function_bodies = on", cancellationToken);
        await CheckBodiesAsync(connection, changed, cancellationToken);
        await CheckOverloadsAsync(connection, changed, cancellationToken);

        foreach (var definition in changed)
        {
            await RecordAsync(connection, "platform.schema_definitions", definition.Name, definition.Checksum, cancellationToken);
        }
        await using (var forget = new NpgsqlCommand("delete from platform.schema_definitions where name = any($1)", connection))
        {
            forget.Parameters.Add(new() { Value = gone.ToArray() });
            await forget.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return changed.Select(d => d.Name).ToList();
    }

    /// <summary>
    /// Runs the language validator over every SQL and PL/pgSQL function this transaction created or
    /// replaced: what <c>check_function_bodies</c> would have said at creation, now that all are there.
    /// </summary>
    private static async Task CheckBodiesAsync(NpgsqlConnection connection, List<Definition> changed, CancellationToken cancellationToken)
    {
        var functions = new List<(uint Oid, string Name, string Validator)>();
        await using (var touched = new NpgsqlCommand("""
            select p.oid, format('%s.%s(%s)', p.pronamespace::regnamespace, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
                   l.lanvalidator::regproc::text
            from pg_catalog.pg_proc p
            join pg_catalog.pg_language l on l.oid = p.prolang
            where p.xmin = pg_catalog.pg_current_xact_id()::xid and l.lanname in ('sql', 'plpgsql')
            order by p.oid
            """, connection))
        await using (var reader = await touched.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                functions.Add((reader.GetFieldValue<uint>(0), reader.GetString(1), reader.GetString(2)));
            }
        }
        foreach (var (oid, name, validator) in functions)
        {
            await using var check = new NpgsqlCommand($"select {validator}($1)", connection);
            check.Parameters.Add(new() { Value = oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
            try
            {
                await check.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e)
            {
                throw new MigrationException($"Definition {FileDefining(changed, name)}: function {name} does not compile: {e.SqlState} {e.MessageText}");
            }
        }
    }

    /// <summary>
    /// A name whose functions this transaction (re)created must have no other overload left over: that is
    /// an old signature a definition file no longer has, which only a migration may drop.
    /// </summary>
    private static async Task CheckOverloadsAsync(NpgsqlConnection connection, List<Definition> changed, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            select format('%s.%s(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
            from pg_catalog.pg_proc p
            join pg_catalog.pg_namespace n on n.oid = p.pronamespace
            where p.xmin <> pg_catalog.pg_current_xact_id()::xid
              and exists (select from pg_catalog.pg_proc q
                          where q.pronamespace = p.pronamespace and q.proname = p.proname
                            and q.xmin = pg_catalog.pg_current_xact_id()::xid)
            order by 1
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (await reader.ReadAsync(cancellationToken))
        {
            var stale = reader.GetString(0);
            var file = FileDefining(changed, stale);
            throw new MigrationException(
                $"Definition {file} leaves {stale} beside the signature it defines now: drop the old signature in a new migration.");
        }
    }

    private static string FileDefining(List<Definition> definitions, string function)
    {
        var name = function.Split('(')[0];
        var file = definitions.FirstOrDefault(d => d.Functions.Contains(name));
        return file is null ? "db/functions" : $"db/functions/{file.Name}";
    }

    private void Verify(Dictionary<string, string> applied)
    {
        if (applied.Keys.Any(name => SquashedMigrations.Contains(name)) && migrations.All(m => !SquashedMigrations.Contains(m.Name)))
        {
            throw new MigrationException(
                "This database was made by an earlier Lockstep (migrations 0001_platform_workspaces to 0008_platform_audit, since squashed into 0001_baseline): "
                + "recreate it; for the embedded database, stop Lockstep and delete its data folder (.lockstep by default).");
        }
        var known = migrations.ToDictionary(m => m.Name);
        foreach (var (name, checksum) in applied.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            if (!known.TryGetValue(name, out var migration))
            {
                throw new MigrationException(
                    $"The database has migration {name} applied, which this build does not have: run a newer Lockstep.");
            }
            if (migration.Checksum != checksum)
            {
                throw new MigrationException(
                    $"Migration {name} was edited after it was applied (checksum {checksum[..12]} in the database, {migration.Checksum[..12]} in the file); "
                    + "restore the file and put the change in a new migration.");
            }
        }
    }

    private async Task<long> CountAppliedAsync(string sql, string[] names, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new() { Value = names });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task RunFileAsync(NpgsqlConnection connection, string what, string sql, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync(connection, sql, cancellationToken);
        }
        catch (PostgresException e)
        {
            throw new MigrationException(
                $"{what} failed: {e.SqlState} {e.MessageText}{(e.Position > 0 ? $" (at character {e.Position})" : "")}");
        }
    }

    private static async Task RecordAsync(NpgsqlConnection connection, string table, string name, string checksum, CancellationToken cancellationToken)
    {
        // excluded.applied_at (the column default), not now(): Citus refuses a volatile function in do update.
        await using var record = new NpgsqlCommand($"""
            insert into {table} (name, checksum) values ($1, $2)
            on conflict (name) do update set checksum = excluded.checksum, applied_at = excluded.applied_at
            """, connection);
        record.Parameters.Add(new() { Value = name });
        record.Parameters.Add(new() { Value = checksum });
        await record.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<Dictionary<string, string>> ReadRecordedAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        var recorded = new Dictionary<string, string>();
        await using var command = new NpgsqlCommand($"select name, checksum from {table}", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            recorded[reader.GetString(0)] = reader.GetString(1);
        }
        return recorded;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
