using Lockstep.Platform.Audit;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// Audit entries older than <c>Lockstep:Audit:Retention</c> are purged in batches by
/// <c>platform.purge_audit_log</c> (FOR UPDATE SKIP LOCKED), looped until a batch comes back short;
/// purgers running at once neither wait for each other nor count an entry twice.
/// </summary>
[RunsOnCitus]
public sealed class AuditRetentionTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private static readonly DateTimeOffset Cutoff = DateTimeOffset.UtcNow.AddDays(-365);

    /// <summary>A workspace's entries: <paramref name="old"/> recorded 400 days ago, <paramref name="recent"/> from 300 days ago to now.</summary>
    private async Task<Guid> EntriesAsync(int old, int recent)
    {
        var workspace = Guid.NewGuid();
        // Entries of earlier tests in this class that are past the cutoff would be counted with ours.
        await using (var earlier = db.DataSource.CreateCommand("delete from platform.audit_log where at < $1"))
        {
            earlier.Parameters.Add(new NpgsqlParameter { Value = Cutoff });
            await earlier.ExecuteNonQueryAsync();
        }
        await using var insert = db.DataSource.CreateCommand("""
            insert into platform.audit_log (workspace_id, at, operation, action, entity_table, entity_id, after)
            select $1, case when g <= $2 then now() - interval '400 days' - g * interval '1 second'
                            else now() - (g - $2) * interval '1 day' end,
                   'sql', 'insert', 'crm.contacts', g::text, jsonb_build_object('name', 'Person ' || g)
            from generate_series(1, $2 + $3) g
            """);
        insert.Parameters.Add(new NpgsqlParameter { Value = workspace });
        insert.Parameters.Add(new NpgsqlParameter { Value = old });
        insert.Parameters.Add(new NpgsqlParameter { Value = recent });
        await insert.ExecuteNonQueryAsync();
        return workspace;
    }

    private Task<long> OlderThanCutoffAsync() => db.ScalarAsync<long>("select count(*) from platform.audit_log where at < $1", Cutoff);

    private Task<long> RecentOfAsync(Guid workspace) =>
        db.ScalarAsync<long>("select count(*) from platform.audit_log where workspace_id = $1 and at >= $2", workspace, Cutoff);

    [Fact]
    public async Task Purge_WhenEntriesAreOlderThanTheRetention_DeletesOnlyThoseBatchByBatchUntilABatchIsShort()
    {
        var workspace = await EntriesAsync(old: 250, recent: 40);

        var purge = await AuditRetention.PurgeAsync(db.DataSource, Cutoff, batchSize: 100, CancellationToken.None);

        Assert.Equal(new AuditPurge(Purged: 250, Batches: 3), purge); // 100, 100, 50
        Assert.Equal(0L, await OlderThanCutoffAsync());
        Assert.Equal(40L, await RecentOfAsync(workspace));
        Assert.Equal(new AuditPurge(0, 1), await AuditRetention.PurgeAsync(db.DataSource, Cutoff, batchSize: 100, CancellationToken.None));
    }

    [Fact]
    public async Task Purge_WhenASecondPurgerRunsWhileTheFirstHoldsItsBatch_SkipsThatBatchWithoutWaitingAndNoEntryIsCountedTwice()
    {
        var workspace = await EntriesAsync(old: 300, recent: 10);
        await using var first = await db.DataSource.OpenConnectionAsync();
        await using var transaction = await first.BeginTransactionAsync();
        await using var batch = new NpgsqlCommand("select platform.purge_audit_log($1, 100)", first, transaction);
        batch.Parameters.Add(new NpgsqlParameter { Value = Cutoff });
        var firstCount = (int)(await batch.ExecuteScalarAsync())!;

        // Without SKIP LOCKED the second purger would wait on the first one's rows until this gives up.
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var second = await AuditRetention.PurgeAsync(db.DataSource, Cutoff, batchSize: 100, patience.Token);
        await transaction.CommitAsync();

        Assert.Equal(100, firstCount);
        Assert.Equal(new AuditPurge(Purged: 200, Batches: 3), second); // 100, 100, then only the first one's rows: skipped
        Assert.Equal(0L, await OlderThanCutoffAsync());
        Assert.Equal(10L, await RecentOfAsync(workspace));
    }

    [Fact]
    public async Task Purge_WhenTwoInstancesPurgeAtOnce_TheirCountsAddUpToTheOldEntriesExactly()
    {
        var workspace = await EntriesAsync(old: 3000, recent: 25);
        var start = new TaskCompletionSource();
        var purgers = Enumerable.Range(0, 2).Select(async _ =>
        {
            await start.Task;
            return await AuditRetention.PurgeAsync(db.DataSource, Cutoff, batchSize: 50, CancellationToken.None);
        }).ToList();

        start.SetResult();
        var results = await Task.WhenAll(purgers);

        Assert.Equal(3000, results.Sum(r => r.Purged));
        Assert.Equal(0L, await OlderThanCutoffAsync());
        Assert.Equal(25L, await RecentOfAsync(workspace));
    }

    [Fact]
    public async Task Retention_WhenTheServerRuns_PurgesEntriesOlderThanTheSettingAndKeepsTheRest()
    {
        var workspace = await EntriesAsync(old: 5, recent: 0);
        await using var insert = db.DataSource.CreateCommand("""
            insert into platform.audit_log (workspace_id, at, operation, action, entity_table, entity_id)
            values ($1, now() - interval '40 days', 'sql', 'insert', 'crm.clients', 'a'), ($1, now() - interval '10 days', 'sql', 'insert', 'crm.clients', 'b')
            """);
        insert.Parameters.Add(new NpgsqlParameter { Value = workspace });
        await insert.ExecuteNonQueryAsync();

        await using (var server = new LockstepFactory(db.ConnectionString).WithWebHostBuilder(b => b.UseSetting("Lockstep:Audit:Retention", "30d")))
        {
            _ = server.Server;
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (await db.ScalarAsync<long>("select count(*) from platform.audit_log where workspace_id = $1", workspace) > 1 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }

        Assert.Equal("b", await db.ScalarAsync<string>("select string_agg(entity_id, ',') from platform.audit_log where workspace_id = $1", workspace));
    }

    [Theory]
    [InlineData(null, 365.0)]
    [InlineData("", 365.0)]
    [InlineData("30d", 30.0)]
    [InlineData("730", 730.0)]
    [InlineData("90.00:00:00", 90.0)]
    [InlineData("0.12:00:00", 0.5)]
    [InlineData("off", null)]
    [InlineData("0", null)]
    public void Retention_WhenConfigured_IsDaysATimeSpanOrOff(string? setting, double? days)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [AuditRetention.RetentionSetting] = setting })
            .Build();

        Assert.Equal(days is null ? null : TimeSpan.FromDays(days.Value), AuditRetention.Retention(configuration));
    }

    [Fact]
    public void Retention_WhenNotADuration_RefusesToStartNamingTheSetting()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [AuditRetention.RetentionSetting] = "a year" })
            .Build();

        var error = Assert.Throws<InvalidOperationException>(() => AuditRetention.Retention(configuration));
        Assert.Contains(AuditRetention.RetentionSetting, error.Message, StringComparison.Ordinal);
    }
}
