using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Platform.Database;

/// <summary>
/// db/functions/: a definition file is applied again when its text changes, once, with every other
/// changed file in one transaction, under the migrations' advisory lock.
/// </summary>
public sealed class DefinitionRunnerTests
{
    private const string Workspaces = "platform/workspaces.sql";

    [Fact]
    public async Task ApplyAsync_WhenADefinitionFileWasEdited_AppliesItOnceAndTheNextStartAppliesNothing()
    {
        await using var dataSource = await MigratedDatabaseAsync();
        var definitions = Edited(Workspaces, "A workspace needs a name", "Every workspace needs a name");

        var first = await new MigrationRunner(dataSource, Migration.BuiltIn, definitions).ApplyAsync();
        var second = await new MigrationRunner(dataSource, Migration.BuiltIn, definitions).ApplyAsync();

        Assert.Empty(first.Migrations);
        Assert.Equal([Workspaces], first.Definitions);
        Assert.Empty(second.Definitions);
        Assert.Contains("Every workspace needs a name", await CreateWorkspaceAsync(dataSource, ""), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyAsync_WhenEightServersStartAtOnceAfterAnEdit_AppliesTheEditExactlyOnce()
    {
        const int servers = 8;
        var connectionString = await TestCluster.CreateDatabaseAsync();
        var definitions = Edited(Workspaces, "A workspace needs a name", "Every workspace needs a name");
        var dataSources = Enumerable.Range(0, servers).Select(_ => NpgsqlDataSource.Create(connectionString)).ToList();
        try
        {
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var runs = dataSources.Select(async dataSource =>
            {
                await go.Task;
                return await new MigrationRunner(dataSource, Migration.BuiltIn, definitions).ApplyAsync();
            }).ToList();
            go.SetResult();
            var changes = await Task.WhenAll(runs);

            Assert.Equal([Workspaces], changes.SelectMany(c => c.Definitions));
            Assert.Contains("Every workspace needs a name", await CreateWorkspaceAsync(dataSources[0], ""), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var dataSource in dataSources)
            {
                await dataSource.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ApplyAsync_WhenOneOfTwoEditedFilesFails_AppliesNeitherAndNamesTheFile()
    {
        await using var dataSource = await MigratedDatabaseAsync();
        var definitions = Edited(Workspaces, "A workspace needs a name", "Every workspace needs a name")
            .Select(d => d.Name == "gifts/wishlists.sql" ? d with { Sql = d.Sql + "\ncreate or replace function gifts.broken( returns int;" } : d)
            .ToList();

        var error = await Assert.ThrowsAsync<MigrationException>(() => new MigrationRunner(dataSource, Migration.BuiltIn, definitions).ApplyAsync());

        Assert.Contains("db/functions/gifts/wishlists.sql", error.Message, StringComparison.Ordinal);
        Assert.Contains("A workspace needs a name", await CreateWorkspaceAsync(dataSource, ""), StringComparison.Ordinal);
        Assert.Empty((await MigrationRunner.BuiltIn(dataSource).ApplyAsync()).Definitions);
    }

    [Fact]
    public async Task ApplyAsync_WhenAFunctionBodyCallsAFunctionThatDoesNotExist_FailsNamingTheFileAndTheFunction()
    {
        await using var dataSource = await MigratedDatabaseAsync();
        // A SQL-language function: the PL/pgSQL validator resolves no call (PlpgsqlCheckTests does).
        var definitions = Edited("platform/schema.sql", "select m.name from", "select platform.no_such_function(m.name) from");

        var error = await Assert.ThrowsAsync<MigrationException>(() => new MigrationRunner(dataSource, Migration.BuiltIn, definitions).ApplyAsync());

        Assert.Contains("db/functions/platform/schema.sql", error.Message, StringComparison.Ordinal);
        Assert.Contains("platform.applied_migrations()", error.Message, StringComparison.Ordinal);
        Assert.Contains("42883", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyAsync_WhenASignatureChangesWithoutAMigrationDroppingTheOldOne_FailsUntilOneDoes()
    {
        await using var dataSource = await MigratedDatabaseAsync();
        var definitions = Edited(Workspaces,
            "create or replace function public.list_workspaces()", "create or replace function public.list_workspaces(p_limit integer default 100)",
            "grant execute on function public.list_workspaces() to", "grant execute on function public.list_workspaces(integer) to");

        var error = await Assert.ThrowsAsync<MigrationException>(() => new MigrationRunner(dataSource, Migration.BuiltIn, definitions).ApplyAsync());
        Assert.Contains("leaves public.list_workspaces() beside", error.Message, StringComparison.Ordinal);
        Assert.Contains("db/functions/platform/workspaces.sql", error.Message, StringComparison.Ordinal);

        var drop = new Migration("9001_list_workspaces_limit.sql", "drop function public.list_workspaces()");
        var changes = await new MigrationRunner(dataSource, [.. Migration.BuiltIn, drop], definitions).ApplyAsync();
        Assert.Equal([drop.Name], changes.Migrations);
        await using var overloads = dataSource.CreateCommand("select string_agg(oid::regprocedure::text, ', ') from pg_proc where proname = 'list_workspaces'");
        Assert.Equal("list_workspaces(integer)", await overloads.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ApplyAsync_WhenAMigrationAddsATenantTable_ReappliesEveryDefinitionSoTheTableIsAudited()
    {
        await using var dataSource = await MigratedDatabaseAsync();
        var table = new Migration("9001_crm_notes.sql", """
            create table crm.notes (
              workspace_id uuid not null references platform.workspaces (id),
              id uuid not null default gen_random_uuid(),
              primary key (workspace_id, id))
            """);

        var changes = await new MigrationRunner(dataSource, [.. Migration.BuiltIn, table], Definition.BuiltIn).ApplyAsync();

        Assert.Equal(Definition.BuiltIn.Select(d => d.Name), changes.Definitions);
        await using var audited = dataSource.CreateCommand("select count(*) from pg_trigger where tgrelid = 'crm.notes'::regclass and tgname = 'audit'");
        Assert.Equal(1L, await audited.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ApplyAsync_WhenTheDatabaseHasTheMigrationsSquashedIntoTheBaseline_SaysInOneLineToRecreateIt()
    {
        await using var dataSource = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync(fromTemplate: false));
        await using (var old = dataSource.CreateCommand("""
            create schema platform;
            create table platform.schema_migrations (name text primary key, checksum text not null, applied_at timestamptz not null default now());
            insert into platform.schema_migrations (name, checksum) values ('0001_platform_workspaces.sql', 'x'), ('0002_crm_clients_contacts.sql', 'y')
            """))
        {
            await old.ExecuteNonQueryAsync();
        }

        var error = await Assert.ThrowsAsync<MigrationException>(() => MigrationRunner.BuiltIn(dataSource).ApplyAsync());

        Assert.Contains("recreate it", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void BuiltIn_WhenListed_PutsPlatformFirstAndEveryFunctionInExactlyOneFile()
    {
        Assert.StartsWith("platform/", Definition.BuiltIn[0].Name, StringComparison.Ordinal);
        var defined = Definition.BuiltIn
            .SelectMany(d => d.Functions.Select(function => (Function: function, d.Name)))
            // A function a table depends on stays in migrations, each later one replacing it: they count as one place.
            .Concat(Migration.BuiltIn.SelectMany(m => m.Functions.Select(function => (Function: function, Name: "db/migrations"))))
            .GroupBy(f => f.Function)
            .Where(g => g.Select(f => f.Name).Distinct().Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(f => f.Name).Distinct())}")
            .ToList();
        Assert.True(defined.Count == 0, "functions defined in more than one file:\n" + string.Join("\n", defined));
    }

    private static List<Definition> Edited(string name, params string[] replacements)
    {
        return Definition.BuiltIn.Select(d =>
        {
            if (d.Name != name)
            {
                return d;
            }
            var sql = d.Sql;
            for (var i = 0; i < replacements.Length; i += 2)
            {
                Assert.Contains(replacements[i], sql, StringComparison.Ordinal);
                sql = sql.Replace(replacements[i], replacements[i + 1], StringComparison.Ordinal);
            }
            return d with { Sql = sql };
        }).ToList();
    }

    private static async Task<NpgsqlDataSource> MigratedDatabaseAsync() =>
        NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync());

    private static async Task<string> CreateWorkspaceAsync(NpgsqlDataSource dataSource, string name)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await DatabaseFixture.ScalarAsUserAsync<string>(connection, Guid.NewGuid(), "select public.create_workspace($1)", name);
    }
}
