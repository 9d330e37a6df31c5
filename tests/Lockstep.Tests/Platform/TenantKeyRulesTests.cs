using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Platform;

/// <summary>
/// DESIGN.md's tenant rules, read from the catalog so later modules cannot drift: a tenant table's
/// primary key starts with workspace_id; every foreign key to a tenant table carries workspace_id on
/// both sides; every unique constraint or index of a tenant table includes workspace_id; every table of
/// a module schema is a tenant table unless it is one of the few global ones.
/// </summary>
[RunsOnCitus]
public sealed class TenantKeyRulesTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private static readonly string[] ModuleSchemas = ["platform", "crm", "leads", "sessions", "gifts"];
    private static readonly string[] GlobalTables = ["platform.workspaces", "platform.schema_migrations", "platform.schema_definitions", "platform.idempotency_keys"];

    private const string Violations = """
        with tenant as (
          select c.oid, c.oid::regclass::text as name
          from pg_class c
          join pg_attribute a on a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped
          where c.relkind in ('r', 'p') and c.relnamespace::regnamespace::text = any($1)
        ),
        wsattnum as (
          select t.oid, a.attnum from tenant t join pg_attribute a on a.attrelid = t.oid and a.attname = 'workspace_id'
        )
        select t.name || ': primary key does not start with workspace_id'
        from tenant t
        where not exists (
          select 1 from pg_constraint k join wsattnum w on w.oid = t.oid
          where k.conrelid = t.oid and k.contype = 'p' and k.conkey[1] = w.attnum)
        union all
        select t.name || ': unique index ' || i.indexrelid::regclass::text || ' lacks workspace_id'
        from tenant t
        join pg_index i on i.indrelid = t.oid and i.indisunique
        join wsattnum w on w.oid = t.oid
        where not (w.attnum = any(i.indkey::int2[]))
        union all
        select k.conrelid::regclass::text || ': foreign key ' || k.conname || ' to tenant table ' || t.name || ' lacks workspace_id'
        from pg_constraint k
        join tenant t on t.oid = k.confrelid
        join wsattnum referenced on referenced.oid = k.confrelid
        left join pg_attribute referencing on referencing.attrelid = k.conrelid and referencing.attname = 'workspace_id'
        where k.contype = 'f'
          and not exists (
            select 1 from unnest(k.conkey, k.confkey) as pair(from_col, to_col)
            where pair.from_col = referencing.attnum and pair.to_col = referenced.attnum)
        union all
        select c.oid::regclass::text || ': table in a module schema without workspace_id (tenant) and not declared global'
        from pg_class c
        where c.relkind in ('r', 'p') and c.relnamespace::regnamespace::text = any($1)
          and c.oid not in (select oid from tenant)
          and not (c.oid::regclass::text = any($2))
        order by 1
        """;

    private async Task<List<string>> ViolationsAsync()
    {
        await using var command = db.DataSource.CreateCommand(Violations);
        command.Parameters.Add(new NpgsqlParameter { Value = ModuleSchemas });
        command.Parameters.Add(new NpgsqlParameter { Value = GlobalTables });
        await using var reader = await command.ExecuteReaderAsync();
        var violations = new List<string>();
        while (await reader.ReadAsync())
        {
            violations.Add(reader.GetString(0));
        }
        return violations;
    }

    [Fact]
    public async Task Catalog_WhenAllMigrationsAreApplied_EveryTenantTableFollowsTheKeyRules()
    {
        Assert.Empty(await ViolationsAsync());
    }

    [Fact]
    public async Task Catalog_WhenATableBreaksEachRule_ReportsEveryBreak()
    {
        // Proves the check can fail: a scratch schema of tables that each break one rule.
        var scratch = await TestCluster.CreateDatabaseAsync();
        await using var scratchSource = NpgsqlDataSource.Create(scratch);
        await using (var setup = scratchSource.CreateCommand("""
            create schema if not exists crm; -- the CRM migration already made it
            create table crm.good (workspace_id uuid references platform.workspaces (id), id uuid, primary key (workspace_id, id));
            create table crm.bad_pk (id uuid primary key, workspace_id uuid);
            create table crm.bad_unique (workspace_id uuid, id uuid, email text unique, primary key (workspace_id, id));
            create unique index good_id_only on crm.good (id);
            create table crm.bad_fk (workspace_id uuid, id uuid, good_id uuid references crm.good (id), primary key (workspace_id, id));
            create table crm.not_tenant (id uuid primary key);
            """))
        {
            await setup.ExecuteNonQueryAsync();
        }

        await using var command = scratchSource.CreateCommand(Violations);
        command.Parameters.Add(new NpgsqlParameter { Value = ModuleSchemas });
        command.Parameters.Add(new NpgsqlParameter { Value = GlobalTables });
        var found = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                found.Add(reader.GetString(0));
            }
        }

        Assert.Contains(found, v => v.StartsWith("crm.bad_pk: primary key", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("crm.bad_unique: unique index", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("crm.good: unique index crm.good_id_only", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("crm.bad_fk: foreign key bad_fk_good_id_fkey", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("crm.not_tenant: table in a module schema", StringComparison.Ordinal));
        Assert.DoesNotContain(found, v => v.StartsWith("crm.good: primary key", StringComparison.Ordinal));
    }
}
