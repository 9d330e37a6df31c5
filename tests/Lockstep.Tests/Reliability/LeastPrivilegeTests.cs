using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// The least-privilege rules (db/README.md) read from the catalog, so a later file cannot drift: every
/// function the serving role (or PUBLIC) may execute is SECURITY DEFINER with search_path = ''; nothing is
/// executable by PUBLIC, now or by default later, and the serving role only what a definition file
/// grants it; the serving role can touch no table directly. Offenders are named with their file.
/// </summary>
[RunsOnCitus]
public sealed class LeastPrivilegeTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private static readonly string[] ModuleSchemas = ["platform", "crm", "leads", "sessions", "gifts"];

    // Extension functions (pgcrypto and the like) are the extension's business, not ours.
    private const string OurFunctions = """
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_%'
          and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        """;

    [Fact]
    public async Task Functions_WhenExecutableByTheServingRole_AreSecurityDefinerWithEmptySearchPath()
    {
        var offenders = await ListFunctionsAsync($"""
            select p.oid::regprocedure::text, p.oid::regprocedure::text || case when p.prosecdef then '' else ' is not security definer' end
                   || case when 'search_path=""' = any(coalesce(p.proconfig, array[]::text[])) then '' else ' has no search_path = ''''' end
            {OurFunctions}
              and (has_function_privilege('{DatabaseHost.ServingRole}', p.oid, 'execute') or has_function_privilege('public', p.oid, 'execute'))
              and not (p.prosecdef and 'search_path=""' = any(coalesce(p.proconfig, array[]::text[])))
            order by 1
            """);
        Assert.True(offenders.Count == 0, "executable functions breaking the rule:\n" + string.Join("\n", offenders));
    }

    // A trigger runs as whoever fires it; a deferred one at commit, outside any security definer
    // function: as the serving role, which can read no table.
    [Fact]
    public async Task TriggerFunctions_WhenListed_AreAllSecurityDefinerWithEmptySearchPath()
    {
        var offenders = await ListFunctionsAsync($"""
            select p.oid::regprocedure::text, p.oid::regprocedure::text || ' is a trigger function but not security definer set search_path = '''''
            {OurFunctions}
              and p.prorettype = 'trigger'::regtype
              and not (p.prosecdef and 'search_path=""' = any(coalesce(p.proconfig, array[]::text[])))
            order by 1
            """);
        Assert.True(offenders.Count == 0, "trigger functions breaking the rule:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public async Task Functions_WhenListed_NoneIsExecutableByPublic()
    {
        var offenders = await ListFunctionsAsync($"""
            select p.oid::regprocedure::text, p.oid::regprocedure::text {OurFunctions}
              and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                          where a.grantee = 0 and a.privilege_type = 'EXECUTE')
            order by 1
            """);
        Assert.True(offenders.Count == 0, "functions executable by PUBLIC:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public async Task Functions_WhenExposed_AreAllExecutableByTheServingRole()
    {
        var missing = await ListFunctionsAsync($"""
            select p.oid::regprocedure::text, p.oid::regprocedure::text {OurFunctions}
              and n.nspname = 'public' and p.prorettype <> 'trigger'::regtype
              and not has_function_privilege('{DatabaseHost.ServingRole}', p.oid, 'execute')
            order by 1
            """);
        Assert.Empty(missing);
    }

    [Fact]
    public async Task CreateFunction_WhenAddedLaterWithoutAGrant_IsExecutableByNobodyUntilGranted()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await Execute(connection, "create function crm.scratch_internal() returns int language sql as 'select 1'");
        await Execute(connection, "create function public.scratch_exposed() returns int language sql security definer set search_path = '' as 'select 1'");

        await using var check = new NpgsqlCommand($"""
            select has_function_privilege('public', 'crm.scratch_internal()', 'execute'),
                   has_function_privilege('public', 'public.scratch_exposed()', 'execute'),
                   has_function_privilege('{DatabaseHost.ServingRole}', 'crm.scratch_internal()', 'execute'),
                   has_function_privilege('{DatabaseHost.ServingRole}', 'public.scratch_exposed()', 'execute')
            """, connection);
        Assert.Equal(new[] { false, false, false, false }, await ReadBooleansAsync(check));

        await Execute(connection, $"grant execute on function public.scratch_exposed() to {DatabaseHost.ServingRole}");
        Assert.Equal(new[] { false, false, false, true }, await ReadBooleansAsync(check));
    }

    private static async Task<bool[]> ReadBooleansAsync(NpgsqlCommand command)
    {
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return Enumerable.Range(0, reader.FieldCount).Select(reader.GetBoolean).ToArray();
    }

    [Fact]
    public async Task Tables_WhenTouchedAsTheServingRole_RefuseSelectInsertUpdateDeleteAndTruncate()
    {
        var tables = await ListAsync("""
            select c.oid::regclass::text from pg_class c
            where c.relkind in ('r', 'p') and c.relnamespace::regnamespace::text = any($1)
            order by 1
            """, (object)ModuleSchemas);
        Assert.NotEmpty(tables);

        var serving = DatabaseHost.ServingConnectionString(db.ConnectionString, new ConfigurationBuilder().Build());
        await using var dataSource = NpgsqlDataSource.Create(serving);
        await using var connection = await dataSource.OpenConnectionAsync();
        var allowed = new List<string>();
        var tried = 0;
        foreach (var table in tables)
        {
            var column = await FirstColumnAsync(table);
            foreach (var sql in new[]
            {
                $"select 1 from {table} limit 0",
                $"insert into {table} default values",
                $"update {table} set {column} = {column} where false",
                $"delete from {table} where false",
                $"truncate {table}",
            })
            {
                tried++;
                var error = await Record.ExceptionAsync(() => Execute(connection, sql));
                if (error is not PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege })
                {
                    allowed.Add($"{sql}: {error?.Message ?? "succeeded"}");
                }
            }
        }
        Assert.True(allowed.Count == 0, $"{allowed.Count} of {tried} statements were not refused with 42501:\n" + string.Join("\n", allowed));
    }

    [Fact]
    public async Task ServingRole_WhenMigrated_IsNoSuperuserAndMemberOfNoRoleItCouldSwitchTo()
    {
        // The embedded cluster logs in as the role itself: a membership would let `set role` leave it.
        var memberships = await ListAsync($"""
            select m.roleid::regrole::text from pg_auth_members m where m.member = '{DatabaseHost.ServingRole}'::regrole order by 1
            """);
        Assert.Empty(memberships);
        Assert.False(await db.ScalarAsync<bool>($"select rolsuper or rolcreaterole or rolbypassrls from pg_roles where rolname = '{DatabaseHost.ServingRole}'"));
    }

    [Fact]
    public async Task ServingConnection_WhenItResetsItsRole_StaysTheServingRole()
    {
        var serving = DatabaseHost.ServingConnectionString(db.ConnectionString, new ConfigurationBuilder().Build());
        await using var dataSource = NpgsqlDataSource.Create(serving);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await Execute(connection, "reset all");
            await Execute(connection, "reset role");
            await using var who = new NpgsqlCommand("select current_user", connection);
            Assert.Equal(DatabaseHost.ServingRole, await who.ExecuteScalarAsync());
        }
        // Returned to the pool (Npgsql resets the session state) and taken again.
        await using (var again = await dataSource.OpenConnectionAsync())
        {
            await using var who = new NpgsqlCommand("select current_user", again);
            Assert.Equal(DatabaseHost.ServingRole, await who.ExecuteScalarAsync());
        }
    }

    [Fact]
    public void ServingConnectionString_WhenADedicatedLoginIsConfigured_UsesIt()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:LockstepApi"] = "Host=db;Username=lockstep_app" })
            .Build();
        Assert.Equal("Host=db;Username=lockstep_app", DatabaseHost.ServingConnectionString("Host=db;Username=owner", configuration));
        var shared = new NpgsqlConnectionStringBuilder(DatabaseHost.ServingConnectionString("Host=db;Username=owner;Options=-c statement_timeout=5s", new ConfigurationBuilder().Build()));
        Assert.Equal("owner", shared.Username);
        Assert.Equal("-c statement_timeout=5s -c role=lockstep_api", shared.Options);
    }

    private async Task<string> FirstColumnAsync(string table) =>
        await db.ScalarAsync<string>(
            "select quote_ident(attname) from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' and attidentity = '' order by attnum limit 1",
            table);

    /// <summary>Rows of (regprocedure, what is wrong), each named with the file that defines the function.</summary>
    private async Task<List<string>> ListFunctionsAsync(string sql)
    {
        await using var command = db.DataSource.CreateCommand(sql);
        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(DefinitionFiles.Named(reader.GetString(0), reader.GetString(1)));
        }
        return rows;
    }

    private async Task<List<string>> ListAsync(string sql, params object[] args)
    {
        await using var command = db.DataSource.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg });
        }
        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }
        return rows;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
