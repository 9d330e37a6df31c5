using Lockstep.Platform.Database;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Lockstep.Platform.Health;

/// <summary>Ready when the database answers and every migration of this build is applied.</summary>
public sealed class DatabaseReadyCheck(DatabaseHost database, EmbeddedPostgresSupervisor supervisor) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (supervisor.IsDown)
        {
            return HealthCheckResult.Unhealthy(supervisor.GaveUp ?? "embedded PostgreSQL restarting");
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            var current = await MigrationRunner.BuiltIn(database.DataSource).IsCurrentAsync(timeout.Token);
            return current ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("migrations pending");
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or InvalidOperationException or OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy("database unreachable");
        }
    }
}
