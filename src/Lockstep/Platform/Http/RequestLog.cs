using System.Diagnostics;

namespace Lockstep.Platform.Http;

/// <summary>
/// One structured log line per request — method, path, status, duration, request id — with the request
/// id also returned as <c>X-Request-Id</c>. Headers and bodies are never logged: they carry tokens.
/// </summary>
public sealed partial class RequestLog(RequestDelegate next, ILogger<RequestLog> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        context.Response.Headers["X-Request-Id"] = context.TraceIdentifier;
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            Completed(logger, context.Request.Method, context.Request.Path, context.Response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds, context.TraceIdentifier);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path} {Status} {ElapsedMs:0.0} ms {RequestId}")]
    private static partial void Completed(ILogger logger, string method, string path, int status, double elapsedMs, string requestId);
}
