using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// On a database with the <c>citus</c> extension, puts every table of Lockstep's schemas that Citus does
/// not know yet under Citus: <c>platform.workspaces</c> distributed by <c>id</c>; every table with a
/// <c>workspace_id</c> column distributed by it, colocated with the workspaces, parents before the tables
/// whose foreign keys name them; every other table (the schema bookkeeping, <c>platform.idempotency_keys</c>)
/// added to Citus's metadata as a local table on the coordinator. Runs at every start, so a table a later
/// migration adds is distributed at the next one. Every <c>public</c> function whose first argument is
/// <c>p_workspace_id uuid</c> is delegated whole to the node holding that workspace
/// (<see cref="DelegateFunctionsAsync"/>), and the serving role is given a way to log in to the workers,
/// which delegated calls need (<see cref="LetServingRoleReachWorkersAsync"/>). Without Citus it does nothing.
/// </summary>
public static class CitusDistribution
{
    private static readonly string[] Schemas = ["platform", "crm", "leads", "sessions", "gifts"];

    public static async Task<bool> IsInstalledAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select exists (select from pg_catalog.pg_extension where extname = 'citus')", connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Citus refuses trigger DDL on distributed tables (and distributing a table that has triggers) unless
    /// told the triggers are safe: Lockstep's triggers only touch rows of the same workspace.
    /// </summary>
    public static async Task AllowTriggersAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("set local citus.enable_unsafe_triggers = on", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Distributes what is not distributed yet; returns one line per table, saying how, in the order done.</summary>
    public static async Task<IReadOnlyList<string>> DistributeAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var tables = await UndistributedTablesAsync(connection, cancellationToken);
        var done = new List<string>();
        foreach (var (table, hasWorkspaceId) in tables)
        {
            var (sql, how) = table == "platform.workspaces"
                ? ("select create_distributed_table($1::regclass, 'id')", "distributed by id")
                : hasWorkspaceId
                    ? ("select create_distributed_table($1::regclass, 'workspace_id', colocate_with => 'platform.workspaces')",
                        "distributed by workspace_id, colocated with platform.workspaces")
                    : ("select citus_add_local_table_to_metadata($1::regclass)", "local table on the coordinator");
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await AllowTriggersAsync(connection, cancellationToken);
            await using (var command = new NpgsqlCommand(sql, connection))
            {
                command.Parameters.Add(new() { Value = table });
                try
                {
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }
                catch (PostgresException e)
                {
                    throw new MigrationException($"Citus: putting {table} under Citus ({how}) failed: {e.SqlState} {e.MessageText}");
                }
            }
            await transaction.CommitAsync(cancellationToken);
            done.Add($"{table}: {how}");
        }
        return done;
    }

    /// <summary>
    /// Makes every <c>public</c> function whose first argument is <c>p_workspace_id uuid</c> a distributed
    /// function by that argument, colocated with <c>platform.workspaces</c>, with <c>force_delegation</c>: a
    /// bare <c>select public.fn($1, ...)</c> then runs whole on the worker holding the workspace's shards,
    /// also inside a transaction block. Only the functions not distributed so yet are done: idempotent, and a
    /// function a later definition adds, or one re-created under a new signature, is done at the next start
    /// (<c>create or replace</c> keeps the distribution: same function, same catalog row). Returns the
    /// functions done now, as their signatures.
    /// </summary>
    public static async Task<IReadOnlyList<string>> DelegateFunctionsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var functions = new List<string>();
        await using (var command = new NpgsqlCommand("""
            select p.oid::regprocedure::text
            from pg_catalog.pg_proc p
            join pg_catalog.pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'public' and p.prokind = 'f'
              and p.pronargs >= 1 and p.proargtypes[0] = 'pg_catalog.uuid'::pg_catalog.regtype
              and p.proargnames[1] = 'p_workspace_id'
              and not exists (select from pg_catalog.pg_depend e
                              where e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and e.objid = p.oid and e.deptype = 'e')
              and not exists (select from pg_catalog.pg_dist_object d
                              where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid
                                and d.distribution_argument_index = 0 and d.force_delegation
                                and d.colocationid = (select w.colocationid from pg_catalog.pg_dist_partition w
                                                      where w.logicalrelid = 'platform.workspaces'::pg_catalog.regclass))
            order by 1
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                functions.Add(reader.GetString(0));
            }
        }
        foreach (var function in functions)
        {
            await using var command = new NpgsqlCommand(
                "select create_distributed_function($1::regprocedure, 'p_workspace_id', colocate_with => 'platform.workspaces', force_delegation => true)",
                connection);
            command.Parameters.Add(new() { Value = function });
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e)
            {
                throw new MigrationException($"Citus: distributing {function} by p_workspace_id failed: {e.SqlState} {e.MessageText}");
            }
        }
        return functions;
    }

    /// <summary>
    /// A delegated call reaches its worker over a connection Citus opens as the calling role: for the server,
    /// <see cref="DatabaseHost.ServingRole"/>, NOLOGIN until then. When Citus holds no credentials for it
    /// (no <c>pg_dist_authinfo</c> row) and the owner may write them (a superuser), this gives the role a
    /// fresh random password (Citus propagates <c>alter role</c> to every node; only the SCRAM verifier is
    /// sent) and stores it for Citus's node-to-node connections. Credentials an operator stored (a password,
    /// a client certificate) are left alone. Returns true when it set them now.
    /// </summary>
    public static async Task<bool> LetServingRoleReachWorkersAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using (var check = new NpgsqlCommand("""
            select coalesce((select rolsuper from pg_catalog.pg_roles where rolname = current_user), false)
               and not exists (select from pg_catalog.pg_dist_authinfo where rolename = $1)
            """, connection))
        {
            check.Parameters.Add(new() { Value = DatabaseHost.ServingRole });
            if (!(bool)(await check.ExecuteScalarAsync(cancellationToken))!)
            {
                return false;
            }
        }
        var password = EmbeddedPostgres.NewPassword();
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The verifier, not the password: a failed statement is written to the server log with its text.
        await using (var alter = new NpgsqlCommand(
            $"alter role {DatabaseHost.ServingRole} login password '{EmbeddedPostgres.ScramVerifier(password)}'", connection))
        {
            await alter.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var store = new NpgsqlCommand(
            "insert into pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) values (0, $1, $2)", connection))
        {
            store.Parameters.Add(new() { Value = DatabaseHost.ServingRole });
            store.Parameters.Add(new() { Value = $"password={password}" });
            await store.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// The tables of Lockstep's schemas Citus does not know, ordered so that every table comes after the
    /// tables its foreign keys reference (Citus only accepts a foreign key to a table it already
    /// distributed): platform.workspaces first, the tables without workspace_id last.
    /// </summary>
    private static async Task<List<(string Table, bool HasWorkspaceId)>> UndistributedTablesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var tables = new Dictionary<string, bool>();
        var references = new Dictionary<string, HashSet<string>>();
        await using (var command = new NpgsqlCommand("""
            select format('%I.%I', n.nspname, c.relname),
                   exists (select from pg_catalog.pg_attribute a
                           where a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped),
                   array(select distinct format('%I.%I', pn.nspname, p.relname)
                         from pg_catalog.pg_constraint f
                         join pg_catalog.pg_class p on p.oid = f.confrelid
                         join pg_catalog.pg_namespace pn on pn.oid = p.relnamespace
                         where f.conrelid = c.oid and f.contype = 'f' and f.confrelid <> c.oid)
            from pg_catalog.pg_class c
            join pg_catalog.pg_namespace n on n.oid = c.relnamespace
            where n.nspname = any($1) and c.relkind in ('r', 'p') and not c.relispartition
              and not exists (select from pg_catalog.pg_dist_partition d where d.logicalrelid = c.oid)
            order by 1
            """, connection))
        {
            command.Parameters.Add(new() { Value = Schemas });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                tables[reader.GetString(0)] = reader.GetBoolean(1);
                references[reader.GetString(0)] = [.. reader.GetFieldValue<string[]>(2)];
            }
        }

        var ordered = new List<(string, bool)>();
        var placed = new HashSet<string>();
        void Place(string table, HashSet<string> visiting)
        {
            if (placed.Contains(table) || !visiting.Add(table))
            {
                return; // placed already, or a foreign-key cycle: no order helps, and Citus's refusal names the table
            }
            foreach (var parent in references[table].Where(tables.ContainsKey).Order(StringComparer.Ordinal))
            {
                Place(parent, visiting);
            }
            placed.Add(table);
            ordered.Add((table, tables[table]));
        }
        if (tables.ContainsKey("platform.workspaces"))
        {
            Place("platform.workspaces", []);
        }
        foreach (var table in tables.Keys.Where(t => tables[t]))
        {
            Place(table, []);
        }
        foreach (var table in tables.Keys.Where(t => !tables[t]))
        {
            Place(table, []);
        }
        return ordered;
    }
}
