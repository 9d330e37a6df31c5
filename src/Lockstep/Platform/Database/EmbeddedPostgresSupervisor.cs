using System.Diagnostics;
using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// Watches the embedded cluster's postmaster (the pid in <c>postmaster.pid</c>, checked every second) and,
/// when it is gone, starts the cluster again after <c>Lockstep:Embedded:RestartDelay</c>, doubling the wait
/// after each failed try up to <c>Lockstep:Embedded:RestartMaxDelay</c>. After
/// <c>Lockstep:Embedded:MaxFailedRestarts</c> failed tries in a row it gives up, and <c>/health/live</c>
/// turns 503 so an orchestrator restarts the process. Does nothing on a configured database.
/// </summary>
public sealed class EmbeddedPostgresSupervisor(DatabaseHost database, IConfiguration configuration, ILogger<EmbeddedPostgresSupervisor> logger)
    : BackgroundService
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);
    private readonly RestartPolicy _policy = RestartPolicy.From(configuration);
    private volatile bool _down;
    private volatile string? _gaveUp;

    /// <summary>True from the moment the postmaster is found gone until the cluster is back (for good once the supervisor gave up).</summary>
    public bool IsDown => _down;

    /// <summary>Why the supervisor gave up on the cluster; null while it has not.</summary>
    public string? GaveUp => _gaveUp;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!database.RunsEmbedded)
        {
            return;
        }
        try
        {
            while (true)
            {
                await Task.Delay(CheckInterval, stoppingToken);
                if (!database.EmbeddedIsRunning && !await RestartAsync(stoppingToken))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down: DatabaseHost stops the cluster
        }
    }

    /// <summary>Tries until the cluster runs again (true) or <see cref="RestartPolicy.MaxFailedRestarts"/> tries in a row failed (false).</summary>
    private async Task<bool> RestartAsync(CancellationToken stoppingToken)
    {
        var lost = Stopwatch.GetTimestamp();
        _down = true;
        logger.LogWarning("Embedded PostgreSQL is gone (its postmaster died); restarting it in {Delay:0.0##} s", _policy.Delay.TotalSeconds);
        var delay = _policy.Delay;
        for (var failed = 1; ; failed++)
        {
            await Task.Delay(delay, stoppingToken);
            try
            {
                // Not cancelled by a shutdown: a server left starting would outlive the process, a started one is stopped with it.
                await database.RestartEmbeddedAsync(CancellationToken.None);
                _down = false;
                logger.LogInformation("Embedded PostgreSQL is back after {Outage:0.0} s ({Failed} failed restarts before)",
                    Stopwatch.GetElapsedTime(lost).TotalSeconds, failed - 1);
                return true;
            }
            catch (Exception e) when (e is EmbeddedPostgresException or NpgsqlException or IOException)
            {
                if (failed >= _policy.MaxFailedRestarts)
                {
                    _gaveUp = $"embedded PostgreSQL could not be restarted ({failed} failed restarts)";
                    logger.LogError("Gave up on the embedded PostgreSQL after {Failed} failed restarts in {Outage:0.0} s, last: {Error}; /health/live now answers 503",
                        failed, Stopwatch.GetElapsedTime(lost).TotalSeconds, e.Message);
                    return false;
                }
                logger.LogDebug("Restart {Failed} of the embedded PostgreSQL failed: {Error}", failed, e.Message);
                delay = delay * 2 < _policy.MaxDelay ? delay * 2 : _policy.MaxDelay;
            }
        }
    }

    private sealed record RestartPolicy(TimeSpan Delay, TimeSpan MaxDelay, int MaxFailedRestarts)
    {
        public static RestartPolicy From(IConfiguration configuration)
        {
            var policy = new RestartPolicy(
                configuration.GetValue("Lockstep:Embedded:RestartDelay", TimeSpan.FromSeconds(1)),
                configuration.GetValue("Lockstep:Embedded:RestartMaxDelay", TimeSpan.FromSeconds(30)),
                configuration.GetValue("Lockstep:Embedded:MaxFailedRestarts", 10));
            if (policy.Delay <= TimeSpan.Zero || policy.MaxDelay < policy.Delay)
            {
                throw new InvalidOperationException(
                    $"Lockstep:Embedded:RestartDelay must be positive and at most Lockstep:Embedded:RestartMaxDelay (they are {policy.Delay} and {policy.MaxDelay}).");
            }
            if (policy.MaxFailedRestarts < 1)
            {
                throw new InvalidOperationException($"Lockstep:Embedded:MaxFailedRestarts must be at least 1 (it is {policy.MaxFailedRestarts}).");
            }
            return policy;
        }
    }
}
