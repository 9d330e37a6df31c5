using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Lockstep.Platform.Health;

/// <summary>The status in one line, as the default writer does, and when it is not healthy, why.</summary>
public static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var reasons = report.Entries.Values.Where(e => e.Status != HealthStatus.Healthy && e.Description is not null).Select(e => e.Description);
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(report.Status == HealthStatus.Healthy ? "Healthy" : $"{report.Status}: {string.Join("; ", reasons)}");
    }
}
