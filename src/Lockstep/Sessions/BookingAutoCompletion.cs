using Lockstep.Platform.Cli;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Sessions;

/// <summary>What one auto-completion pass did.</summary>
public readonly record struct BookingAutoCompletionPass(int Completed, int Failed);

/// <summary>
/// Completes scheduled bookings whose end has passed, every <c>Lockstep:Sessions:AutoCompleteInterval</c>
/// (default 1 minute; <c>0</c> or <c>off</c> disables it). Each booking is completed in its own
/// transaction, so one failure is logged with its booking id and the rest go on; server instances running
/// it at once coordinate through the database (SKIP LOCKED and the status re-check), never through memory.
/// </summary>
public sealed class BookingAutoCompletion(DatabaseHost database, IConfiguration configuration, ILogger<BookingAutoCompletion> logger)
    : BackgroundService
{
    public const string IntervalSetting = "Lockstep:Sessions:AutoCompleteInterval";
    private const int BatchSize = 500;

    public static TimeSpan? Interval(IConfiguration configuration)
    {
        var text = configuration[IntervalSetting];
        if (string.IsNullOrWhiteSpace(text))
        {
            return TimeSpan.FromMinutes(1);
        }
        if (text.Trim() is "off" or "false")
        {
            return null;
        }
        var interval = TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var span) ? span
            : LockstepCli.TryParseLifetime(text, out var lifetime) ? lifetime
            : throw new InvalidOperationException($"{IntervalSetting} '{text}' is not a duration (00:01:00, 30s, 1m, 0 or off).");
        return interval > TimeSpan.Zero ? interval : null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Interval(configuration) is not { } interval)
        {
            logger.LogInformation("Booking auto-completion is off ({Setting})", IntervalSetting);
            return;
        }
        using var timer = new PeriodicTimer(interval);
        var outage = new DatabaseOutageLog(logger, "Booking auto-completion");
        do
        {
            try
            {
                var pass = await RunPassAsync(database.DataSource, logger, stoppingToken);
                outage.Reached();
                if (pass.Completed > 0 || pass.Failed > 0)
                {
                    logger.LogInformation("Auto-completed {Completed} booking(s), {Failed} failed", pass.Completed, pass.Failed);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The next tick tries again; the host keeps serving.
                if (!outage.IsOutage(e))
                {
                    logger.LogError(e, "Booking auto-completion pass failed");
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

    /// <summary>One pass: every booking due now, each completed in its own transaction.</summary>
    public static async Task<BookingAutoCompletionPass> RunPassAsync(NpgsqlDataSource dataSource, ILogger logger, CancellationToken cancellationToken)
    {
        var completed = 0;
        var failed = 0;
        var seen = new HashSet<Guid>();
        while (true)
        {
            var due = await DueAsync(dataSource, cancellationToken);
            var fresh = due.Where(b => seen.Add(b.Id)).ToList();
            foreach (var (workspaceId, bookingId) in fresh)
            {
                try
                {
                    await using var command = dataSource.CreateCommand("select sessions.complete_due_booking($1, $2)");
                    command.Parameters.Add(new NpgsqlParameter { Value = workspaceId });
                    command.Parameters.Add(new NpgsqlParameter { Value = bookingId });
                    if (await command.ExecuteScalarAsync(cancellationToken) is true)
                    {
                        completed++;
                    }
                }
                // A lost connection ends the pass: every booking after it would fail the same way.
                catch (Exception e) when (e is not OperationCanceledException && !DatabaseCalls.IsConnectionLoss(e))
                {
                    failed++;
                    logger.LogError(e, "Auto-completion of booking {BookingId} failed", bookingId);
                }
            }
            // A full batch may have more behind it; a batch with nothing new means the rest failed or are taken.
            if (due.Count < BatchSize || fresh.Count == 0)
            {
                return new BookingAutoCompletionPass(completed, failed);
            }
        }
    }

    private static async Task<List<(Guid WorkspaceId, Guid Id)>> DueAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select workspace_id, id from sessions.due_bookings($1)");
        command.Parameters.Add(new NpgsqlParameter { Value = BatchSize });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var due = new List<(Guid, Guid)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add((reader.GetGuid(0), reader.GetGuid(1)));
        }
        return due;
    }
}
