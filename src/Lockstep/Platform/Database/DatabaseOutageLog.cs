using System.Diagnostics;

namespace Lockstep.Platform.Database;

/// <summary>
/// What a background worker polling the database logs about an outage: one warning when it loses the
/// database, one information line with the outage's length when it reaches it again, however many polls
/// fail in between. A lost connection is expected then and carries no stack trace; any other failure is
/// left to the worker, which logs it with its stack trace.
/// </summary>
public sealed class DatabaseOutageLog(ILogger logger, string worker)
{
    private long? _lostAt;

    /// <summary>True when <paramref name="e"/> is a lost or refused connection (the first of an outage is logged).</summary>
    public bool IsOutage(Exception e)
    {
        if (!DatabaseCalls.IsConnectionLoss(e))
        {
            return false;
        }
        if (_lostAt is null)
        {
            _lostAt = Stopwatch.GetTimestamp();
            logger.LogWarning("{Worker} lost the database ({Error}); retrying until it is back", worker, e.Message);
        }
        return true;
    }

    /// <summary>Called after each call that reached the database: ends the outage, if there was one.</summary>
    public void Reached()
    {
        if (_lostAt is { } lostAt)
        {
            _lostAt = null;
            logger.LogInformation("{Worker} reached the database again after {Outage:0.0} s", worker, Stopwatch.GetElapsedTime(lostAt).TotalSeconds);
        }
    }
}
