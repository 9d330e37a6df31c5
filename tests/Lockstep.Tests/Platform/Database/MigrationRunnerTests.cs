using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Platform.Database;

public sealed class MigrationRunnerTests
{
    private static readonly Migration First = new("0001_accounts.sql", "create table accounts (id int primary key)");
    private static readonly Migration Second = new("0002_accounts_name.sql", "alter table accounts add column name text not null");

    [Fact]
    public async Task ApplyAsync_WhenDatabaseIsEmpty_AppliesBuiltInMigrationsOnceAndIsCurrent()
    {
        await using var dataSource = await EmptyDatabaseAsync();
        var runner = MigrationRunner.BuiltIn(dataSource);
        Assert.False(await runner.IsCurrentAsync());

        var appliedNow = await runner.ApplyAsync();
        var appliedAgain = await runner.ApplyAsync();

        Assert.Equal(Migration.BuiltIn.Select(m => m.Name), appliedNow.Migrations);
        Assert.Equal(Definition.BuiltIn.Select(d => d.Name), appliedNow.Definitions);
        Assert.Empty(appliedAgain.Migrations);
        Assert.Empty(appliedAgain.Definitions);
        Assert.True(await runner.IsCurrentAsync());
        Assert.Equal(Migration.BuiltIn.Select(m => m.Name), await AppliedAsync(dataSource));
    }

    [Fact]
    public async Task ApplyAsync_WhenLaterMigrationsArrive_AppliesOnlyTheNewOnesInOrder()
    {
        await using var dataSource = await EmptyDatabaseAsync();
        await Runner(dataSource, First).ApplyAsync();
        var runner = Runner(dataSource, First, Second);
        Assert.False(await runner.IsCurrentAsync());

        var appliedNow = await runner.ApplyAsync();

        Assert.Equal([Second.Name], appliedNow.Migrations);
        Assert.True(await runner.IsCurrentAsync());
        await using var insert = dataSource.CreateCommand("insert into accounts (id, name) values (1, 'a') returning name");
        Assert.Equal("a", await insert.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ApplyAsync_WhenEightServersStartAtOnceOnAnEmptyDatabase_AppliesEveryMigrationExactlyOnce()
    {
        const int servers = 8;
        var connectionString = await TestCluster.CreateDatabaseAsync(fromTemplate: false);
        var dataSources = Enumerable.Range(0, servers).Select(_ => NpgsqlDataSource.Create(connectionString)).ToList();
        try
        {
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var runs = dataSources.Select(async dataSource =>
            {
                await go.Task;
                return await MigrationRunner.BuiltIn(dataSource).ApplyAsync();
            }).ToList();
            go.SetResult();
            var appliedNow = await Task.WhenAll(runs);

            Assert.Equal(Migration.BuiltIn.Count, appliedNow.Sum(changes => changes.Migrations.Count));
            Assert.Equal(Migration.BuiltIn.Select(m => m.Name), appliedNow.SelectMany(changes => changes.Migrations).Order(StringComparer.Ordinal));
            Assert.Equal(Definition.BuiltIn.Count, appliedNow.Sum(changes => changes.Definitions.Count));
            await using var count = dataSources[0].CreateCommand(
                "select count(*), count(distinct name) from platform.schema_migrations");
            await using var reader = await count.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.Equal(Migration.BuiltIn.Count, reader.GetInt64(0));
            Assert.Equal(Migration.BuiltIn.Count, reader.GetInt64(1));
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
    public async Task ApplyAsync_WhenAnAppliedFileWasEdited_ThrowsNamingTheFileAndAppliesNothing()
    {
        await using var dataSource = await EmptyDatabaseAsync();
        await Runner(dataSource, First).ApplyAsync();
        var edited = First with { Sql = First.Sql + ", note text" };

        var error = await Assert.ThrowsAsync<MigrationException>(() => Runner(dataSource, edited, Second).ApplyAsync());

        Assert.Contains(First.Name, error.Message, StringComparison.Ordinal);
        Assert.Equal([First.Name], await AppliedAsync(dataSource));
    }

    [Fact]
    public async Task ApplyAsync_WhenAMigrationFails_RollsBackAllOfItAndNamesTheFile()
    {
        await using var dataSource = await EmptyDatabaseAsync();
        var failing = new Migration("0002_half_done.sql", """
            create table half_done (id int);
            insert into accounts (id) values (1);
            select 1 / 0;
            """);

        var error = await Assert.ThrowsAsync<MigrationException>(() => Runner(dataSource, First, failing).ApplyAsync());

        Assert.Contains(failing.Name, error.Message, StringComparison.Ordinal);
        Assert.Equal([First.Name], await AppliedAsync(dataSource));
        await using var leftovers = dataSource.CreateCommand(
            "select (select count(*) from accounts) + (select count(*) from pg_class where relname = 'half_done')");
        Assert.Equal(0L, await leftovers.ExecuteScalarAsync());

        var fixedUp = failing with { Sql = "create table half_done (id int)" };
        Assert.Equal([fixedUp.Name], (await Runner(dataSource, First, fixedUp).ApplyAsync()).Migrations);
    }

    [Fact]
    public async Task ApplyAsync_WhenDatabaseHasAMigrationThisBuildLacks_ThrowsNamingIt()
    {
        await using var dataSource = await EmptyDatabaseAsync();
        await Runner(dataSource, First, Second).ApplyAsync();

        var error = await Assert.ThrowsAsync<MigrationException>(() => Runner(dataSource, First).ApplyAsync());

        Assert.Contains(Second.Name, error.Message, StringComparison.Ordinal);
    }

    private static MigrationRunner Runner(NpgsqlDataSource dataSource, params Migration[] migrations) => new(dataSource, migrations, []);

    private static async Task<NpgsqlDataSource> EmptyDatabaseAsync() =>
        NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync(fromTemplate: false));

    private static async Task<List<string>> AppliedAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("select name from platform.schema_migrations order by name");
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }
}
