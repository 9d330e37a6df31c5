using System.Text.Json;
using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Lockstep.Tests.Gifts;

/// <summary>
/// The migration that adds recipient_seq and the counters, on a database that already holds notifications
/// numbered only by the global seq: each (workspace, recipient) is numbered 1..n in seq order, its counter
/// stands at n, the next notification gets n + 1, and an old numeric event id maps onto the new positions.
/// </summary>
public sealed class NotificationCountersMigrationTests
{
    private const string MigrationName = "0007_gifts_notification_counters.sql";

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task ApplyAsync_WhenNotificationsExistBeforeTheCounters_NumbersEachRecipientInSeqOrderAndTheNextOneFollows()
    {
        var connectionString = await TestCluster.CreateDatabaseAsync(fromTemplate: false);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        // The migrations before this one, without definitions: the notifications the old triggers wrote.
        await new MigrationRunner(dataSource, Migration.BuiltIn.TakeWhile(m => m.Name != MigrationName).ToList(), []).ApplyAsync();
        var (a, b) = (await WorkspaceAsync(dataSource), await WorkspaceAsync(dataSource));
        var (ann, bob) = (Guid.NewGuid(), Guid.NewGuid());
        var seqs = new List<long>();
        foreach (var (workspace, recipient) in new[] { (a, ann), (b, ann), (a, bob), (a, ann), (b, ann), (a, ann) })
        {
            seqs.Add(await ScalarAsync<long>(dataSource, """
                insert into gifts.notifications (workspace_id, recipient_id, type, data)
                values ($1, $2, 'item_claimed', '{}') returning seq
                """, workspace, recipient));
        }

        await MigrationRunner.BuiltIn(dataSource).ApplyAsync();

        Assert.Equal(new long[] { 1, 1, 1, 2, 2, 3 }, await ScalarAsync<long[]>(dataSource,
            "select array_agg(recipient_seq order by seq) from gifts.notifications where seq = any($1)", seqs.ToArray()));
        Assert.Equal($"{a}/{ann}=3 {a}/{bob}=1 {b}/{ann}=2".Split(' ').Order(StringComparer.Ordinal), (await ScalarAsync<string[]>(dataSource,
            "select array_agg(workspace_id || '/' || recipient_id || '=' || last_seq) from gifts.notification_counters where workspace_id in ($1, $2)", a, b))
            .Order(StringComparer.Ordinal));
        Assert.Equal(4L, await ScalarAsync<long>(dataSource, """
            insert into gifts.notifications (workspace_id, recipient_id, type, data)
            values ($1, $2, 'item_claimed', '{}') returning recipient_seq
            """, a, ann));
        // Ann's stream last sent the fourth row (a: 2) before the upgrade; b's rows after it start at 2.
        await using var serving = NpgsqlDataSource.Create(DatabaseHost.ServingConnectionString(connectionString, new ConfigurationBuilder().Build()));
        await using var connection = await serving.OpenConnectionAsync();
        var cursor = JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(connection, ann,
            "select public.notification_cursor($1)", seqs[3].ToString())).RootElement;
        Assert.Equal(string.Join(',', new[] { $"{a}:2", $"{b}:1" }.Order(StringComparer.Ordinal)), cursor.GetProperty("cursor").GetString());
    }

    private static Task<Guid> WorkspaceAsync(NpgsqlDataSource dataSource) =>
        ScalarAsync<Guid>(dataSource, "insert into platform.workspaces (name, created_by) values ('Gift group', gen_random_uuid()) returning id");
}
