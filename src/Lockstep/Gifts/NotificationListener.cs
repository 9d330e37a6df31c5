using System.Text.Json;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Gifts;

/// <summary>
/// The process's one LISTEN connection on <c>lockstep_notifications</c>: wakes the recipient's streams
/// for every new notification; reconnects after a failure and then wakes every stream so nothing
/// announced meanwhile is missed. <c>Lockstep:Gifts:ListenerEnabled=false</c> turns it off.
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
        await using (var listen = new NpgsqlCommand($"listen {Channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken);
        }
        outage.Reached();
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
