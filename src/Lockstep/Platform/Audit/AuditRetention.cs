using System.Globalization;
using System.Text.RegularExpressions;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Platform.Audit;

/// <summary>What one purge did: entries deleted, and how many batches (calls) it took.</summary>
public readonly record struct AuditPurge(int Purged, int Batches);

/// <summary>
/// Deletes audit entries older than <c>Lockstep:Audit:Retention</c> (default 365 days; <c>off</c> keeps
/// them), at start and then every <c>Lockstep:Audit:PurgeInterval</c> (default 1 hour): entries copy
/// names, phones and message bodies, so none may outlive the retention. Each pass calls
/// <c>platform.purge_audit_log</c> batch by batch until a batch comes back short. Several instances may
/// run it at once: a batch takes its rows FOR UPDATE SKIP LOCKED, so none waits for another and no entry
/// is deleted (or counted) twice; a batch cut short by another's rows ends this pass, the other goes on.
/// </summary>
public sealed partial class AuditRetention(DatabaseHost database, IConfiguration configuration, TimeProvider time, ILogger<AuditRetention> logger)
    : BackgroundService
{
    public const string RetentionSetting = "Lockstep:Audit:Retention";
    public const int BatchSize = 1000;

    /// <summary>The retention: a TimeSpan (<c>365.00:00:00</c>, or <c>365</c> days) or <c>30d</c>; null when off (<c>off</c>, <c>0</c>).</summary>
    public static TimeSpan? Retention(IConfiguration configuration)
    {
        var text = configuration[RetentionSetting]?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return TimeSpan.FromDays(365);
        }
        if (text is "off" or "false")
        {
            return null;
        }
        var days = Days().Match(text);
        var retention = days.Success ? TimeSpan.FromDays(int.Parse(days.Groups[1].Value, CultureInfo.InvariantCulture))
            : TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) ? span
            : throw new InvalidOperationException($"{RetentionSetting} '{text}' is not a duration (365.00:00:00, 365, 30d, or off).");
        return retention > TimeSpan.Zero ? retention : null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Retention(configuration) is not { } retention)
        {
            logger.LogInformation("Audit retention is off ({Setting}): entries are kept", RetentionSetting);
            return;
        }
        var interval = configuration.GetValue("Lockstep:Audit:PurgeInterval", TimeSpan.FromHours(1));
        if (interval <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"Lockstep:Audit:PurgeInterval must be positive (it is {interval}); turn purging off with {RetentionSetting}=off.");
        }
        using var timer = new PeriodicTimer(interval, time);
        var outage = new DatabaseOutageLog(logger, "Audit retention");
        do
        {
            try
            {
                var purge = await PurgeAsync(database.DataSource, time.GetUtcNow() - retention, BatchSize, stoppingToken);
                outage.Reached();
                if (purge.Purged > 0)
                {
                    logger.LogInformation("Purged {Count} audit entries older than {Retention} in {Batches} batch(es)", purge.Purged, retention, purge.Batches);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                // The next tick tries again; the host keeps serving.
                if (!outage.IsOutage(e))
                {
                    logger.LogError(e, "Audit retention purge failed");
                }
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Deletes every entry recorded before <paramref name="before"/>, <paramref name="batchSize"/> at a time, until a batch is short.</summary>
    public static async Task<AuditPurge> PurgeAsync(NpgsqlDataSource dataSource, DateTimeOffset before, int batchSize, CancellationToken cancellationToken)
    {
        var purged = 0;
        for (var batches = 1; ; batches++)
        {
            await using var command = dataSource.CreateCommand("select platform.purge_audit_log($1, $2)");
            command.Parameters.Add(new NpgsqlParameter { Value = before.ToUniversalTime() });
            command.Parameters.Add(new NpgsqlParameter { Value = batchSize });
            var batch = (int)(await command.ExecuteScalarAsync(cancellationToken))!;
            purged += batch;
            if (batch < batchSize)
            {
                return new AuditPurge(purged, batches);
            }
        }
    }

    [GeneratedRegex("^([0-9]{1,6})d$")]
    private static partial Regex Days();
}
