using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Gifts;

/// <summary>
/// The migration that bounds a split's total (price + additional costs) to what an amount can hold, on a
/// database from before it: an item already past the bound stops it, named, with nothing changed.
/// </summary>
public sealed class MoneyMigrationTests
{
    private const string MigrationName = "0010_money_two_decimals.sql";

    private static async Task<NpgsqlDataSource> DatabaseBeforeTheRuleAsync()
    {
        var dataSource = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync(fromTemplate: false));
        await new MigrationRunner(dataSource, Migration.BuiltIn.TakeWhile(m => m.Name != MigrationName).ToList(), Definition.BuiltIn).ApplyAsync();
        return dataSource;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, params object[] args)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg });
        }
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<Guid> ItemAsync(NpgsqlDataSource dataSource, decimal price, decimal additionalCosts)
    {
        var workspace = await ScalarAsync<Guid>(dataSource, "insert into platform.workspaces (name, created_by) values ('Group', gen_random_uuid()) returning id");
        var wishlist = await ScalarAsync<Guid>(dataSource,
            "insert into gifts.wishlists (workspace_id, celebrant_id, title) values ($1, gen_random_uuid(), 'Birthday') returning id", workspace);
        return await ScalarAsync<Guid>(dataSource,
            "insert into gifts.wishlist_items (workspace_id, wishlist_id, title, price, additional_costs) values ($1, $2, 'Yacht', $3, $4) returning id",
            workspace, wishlist, price, additionalCosts);
    }

    [Fact]
    public async Task ApplyAsync_WhenAnItemsTotalIsPastTheLargestAmount_StopsNamingItAndChangesNothing()
    {
        await using var dataSource = await DatabaseBeforeTheRuleAsync();
        var tooLarge = await ItemAsync(dataSource, 9999999999.00m, 5.00m);
        await ItemAsync(dataSource, 9999999998.00m, 1.99m);

        var stopped = await Assert.ThrowsAsync<MigrationException>(() => MigrationRunner.BuiltIn(dataSource).ApplyAsync());

        Assert.Contains(MigrationName, stopped.Message, StringComparison.Ordinal);
        Assert.Contains($"item {tooLarge}: price 9999999999.00 + additional costs 5.00 = 10000000004.00", stopped.Message, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(stopped.Message, " item "));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource, "select count(*) from pg_constraint where conname = 'wishlist_items_total_fits'"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource, "select count(*) from platform.schema_migrations where name = $1", MigrationName));
    }

    [Fact]
    public async Task ApplyAsync_WhenEveryTotalFits_AddsTheBoundThatRefusesALargerOne()
    {
        await using var dataSource = await DatabaseBeforeTheRuleAsync();
        var item = await ItemAsync(dataSource, 9999999998.00m, 1.99m);

        await MigrationRunner.BuiltIn(dataSource).ApplyAsync();

        var refused = await Assert.ThrowsAsync<PostgresException>(() =>
            ScalarAsync<int>(dataSource, "update gifts.wishlist_items set additional_costs = 2.00 where id = $1 returning 1", item));
        Assert.Equal(PostgresErrorCodes.CheckViolation, refused.SqlState);
        Assert.Equal("wishlist_items_total_fits", refused.ConstraintName);
    }
}
