using System.Text.Json;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Gifts;

/// <summary>
/// The process's one LISTEN connection on <c>lockstep_notifications</c>: wakes the recipient's streams
/// for every new notification; reconnects after a failure and then wakes every stream so nothing
/// announced meanwhile is missed. <c>Lockstep:Gifts:ListenerEnabled=false</c> turns it off.
/// On Citus nothing is announced (a worker's transaction cannot NOTIFY under two-phase commit): the same
/// connection asks the coordinator every <c>Lockstep:Gifts:NotificationPollInterval</c> (500 ms) for the
/// notification totals of the users with open streams and wakes those whose total changed, whatever wrote
/// the notification.
/// </summary>
public sealed class NotificationListener(
    DatabaseHost database, NotificationHub hub, IConfiguration configuration, ILogger<NotificationListener> logger) : BackgroundService
{
    public const string Channel = "lockstep_notifications";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!configuration.GetValue("Lockstep:Gifts:ListenerEnabled", true))
        {
            return;
        }
        var retry = TimeSpan.FromMilliseconds(configuration.GetValue("Lockstep:Gifts:ListenerRetryMilliseconds", 1000));
        var outage = new DatabaseOutageLog(logger, "Notification listener");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(outage, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (!outage.IsOutage(e))
                {
                    logger.LogWarning(e, "Notification listener failed; reconnecting in {Retry} ms", retry.TotalMilliseconds);
                }
                try
                {
                    await Task.Delay(retry, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task ListenAsync(DatabaseOutageLog outage, CancellationToken stoppingToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(stoppingToken);
        connection.Notification += (_, e) => Dispatch(e.Payload);
        outage.Reached();
        if (database.OnCitus)
        {
            await PollAsync(connection, stoppingToken);
            return;
        }
        await using (var listen = new NpgsqlCommand($"listen {Channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken);
        }
        hub.PublishAll();
        while (true)
        {
            // An idle connection is probed now and then, so a dead one is noticed and replaced.
            if (!await connection.WaitAsync(TimeSpan.FromSeconds(30), stoppingToken))
            {
                await using var probe = new NpgsqlCommand("select 1", connection);
                await probe.ExecuteScalarAsync(stoppingToken);
            }
        }
    }

    private async Task PollAsync(NpgsqlConnection connection, CancellationToken stoppingToken)
    {
        var interval = configuration.GetValue("Lockstep:Gifts:NotificationPollInterval", TimeSpan.FromMilliseconds(500));
        var seen = new Dictionary<Guid, long>();
        hub.PublishAll();
        while (true)
        {
            var users = hub.Users;
            var totals = new Dictionary<Guid, long>();
            if (users.Length > 0)
            {
                await using var command = new NpgsqlCommand("select recipient_id, total from gifts.notification_totals($1)", connection);
                command.Parameters.Add(new NpgsqlParameter { Value = users });
                await using var reader = await command.ExecuteReaderAsync(stoppingToken);
                while (await reader.ReadAsync(stoppingToken))
                {
                    totals[reader.GetGuid(0)] = reader.GetInt64(1);
                }
            }
            // A user seen for the first time is woken too: their stream may have read just before a commit
            // that this first look already counts.
            foreach (var (user, total) in totals)
            {
                if (!seen.TryGetValue(user, out var before) || before != total)
                {
                    hub.Publish(user);
                }
            }
            seen = totals;
            await Task.Delay(interval, stoppingToken);
        }
    }

    private void Dispatch(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            if (document.RootElement.TryGetProperty("recipient_id", out var recipient) && recipient.TryGetGuid(out var user))
            {
                hub.Publish(user);
            }
        }
        catch (JsonException e)
        {
            logger.LogWarning(e, "Ignored a malformed notification payload");
        }
    }
}
