using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Platform.Http;

/// <summary>
/// Deletes expired idempotency keys (<c>platform.purge_idempotency_keys</c>) every
/// <c>Lockstep:Idempotency:PurgeInterval</c> (default 10 minutes; 0 turns it off), in batches, so the
/// table holds about one TTL's worth of keys. Several instances may run it: rows are taken with SKIP LOCKED.
/// </summary>
public sealed class IdempotencyPurge(DatabaseHost database, IConfiguration configuration, ILogger<IdempotencyPurge> logger) : BackgroundService
{
    public const int BatchSize = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = configuration.GetValue("Lockstep:Idempotency:PurgeInterval", TimeSpan.FromMinutes(10));
        if (interval <= TimeSpan.Zero)
        {
            return;
        }
        var outage = new DatabaseOutageLog(logger, "Idempotency key purge");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var purged = await PurgeAsync(database.DataSource, stoppingToken);
                outage.Reached();
                if (purged > 0)
                {
                    logger.LogInformation("Purged {Count} expired idempotency keys", purged);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                if (!outage.IsOutage(e))
                {
                    logger.LogError(e, "Idempotency key purge failed");
                }
            }
            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Deletes every expired key, batch by batch; returns how many.</summary>
    public static async Task<int> PurgeAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            await using var command = dataSource.CreateCommand("select platform.purge_idempotency_keys($1)");
            command.Parameters.Add(new NpgsqlParameter { Value = BatchSize });
            var purged = (int)(await command.ExecuteScalarAsync(cancellationToken))!;
            total += purged;
            if (purged < BatchSize)
            {
                return total;
            }
        }
    }
}
