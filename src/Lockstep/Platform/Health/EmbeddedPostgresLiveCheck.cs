using Lockstep.Platform.Database;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Lockstep.Platform.Health;

/// <summary>
/// Live unless the supervisor gave up restarting the embedded cluster: only a new process can help then.
/// A database that is down or restarting leaves the process live (and not ready).
/// </summary>
public sealed class EmbeddedPostgresLiveCheck(EmbeddedPostgresSupervisor supervisor) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(supervisor.GaveUp is { } reason ? HealthCheckResult.Unhealthy(reason) : HealthCheckResult.Healthy());
}
