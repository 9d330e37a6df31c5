using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lockstep.Tests.Support;
using Xunit.Abstractions;

namespace Lockstep.Tests.Platform.Database;

/// <summary>
/// The real <c>lockstep serve</c> on its embedded cluster, whose postmaster is killed for real
/// (<c>kill -9</c> of the pid in <c>postmaster.pid</c>): the supervisor starts it again without Lockstep
/// restarting, health says what is going on meanwhile, and the outage is logged in a few lines, no stack trace.
/// </summary>
public sealed partial class EmbeddedPostgresSupervisorTests(ITestOutputHelper log)
{
    /// <summary>Short delays, and every background worker polling often, so each meets the outage.</summary>
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Lockstep__Embedded__RestartDelay"] = "00:00:00.2",
        ["Lockstep__Embedded__RestartMaxDelay"] = "00:00:00.4",
        ["Lockstep__Embedded__MaxFailedRestarts"] = "3",
        ["Lockstep__Sessions__AutoCompleteInterval"] = "00:00:00.2",
        ["Lockstep__Audit__PurgeInterval"] = "00:00:00.2",
        ["Lockstep__Idempotency__PurgeInterval"] = "00:00:00.2",
        ["Lockstep__Leads__Outbox__PollIntervalMs"] = "200",
        ["Lockstep__Gifts__ListenerRetryMilliseconds"] = "200",
    };

    private static readonly string[] Workers =
        ["EmbeddedPostgresSupervisor", "NotificationListener", "WhatsAppOutboxWorker", "BookingAutoCompletion", "AuditRetention", "IdempotencyPurge"];

    [Fact]
    public async Task Serve_WhenThePostmasterIsKilled_RestartsItAndTheApiRecoversWithoutRestartingLockstep()
    {
        await using var folder = new ClusterFolder();
        var user = Guid.NewGuid();
        using var served = await ServedProcess.ServeAsync(folder.Path, settings: Settings);
        var http = served.Client(user);
        http.Timeout = TimeSpan.FromSeconds(10);
        var created = await http.PostAsJsonAsync("/api/workspaces", new { name = "Outlives its database" });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var before = served.Output.Length;

        var killed = await KillPostmasterAsync(folder);
        var outage = Stopwatch.StartNew();
        var ready = new List<HttpStatusCode>();
        var live = new List<HttpStatusCode>();
        HttpStatusCode api;
        do
        {
            // Crash recovery fsyncs the whole data folder first: seconds on a busy disk.
            Assert.True(outage.Elapsed < TimeSpan.FromSeconds(45), $"no outage seen, or /api still failing, 45 s after the kill:\n{served.Output[before..]}");
            ready.Add((await http.GetAsync("/health/ready")).StatusCode);
            live.Add((await http.GetAsync("/health/live")).StatusCode);
            api = (await http.GetAsync("/api/workspaces")).StatusCode;
        }
        // Backends that have not yet noticed their postmaster died may answer the first probes: the outage is
        // over once it has been seen and /api answers again.
        while (api != HttpStatusCode.OK || !ready.Contains(HttpStatusCode.ServiceUnavailable));
        var recovered = outage.Elapsed;
        while ((await http.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(outage.Elapsed < TimeSpan.FromSeconds(45), "/api answers but /health/ready is not 200");
            await Task.Delay(100);
        }
        // Long enough for every worker's next poll, and the listener's reconnect, to reach the database again.
        await Task.Delay(2000);

        Assert.False(served.HasExited);
        Assert.NotEqual(killed, folder.PostmasterPid(folder.Cluster()));
        var listed = await http.GetFromJsonAsync<JsonElement>("/api/workspaces");
        Assert.Single(listed.EnumerateArray());
        Assert.All(live, status => Assert.Equal(HttpStatusCode.OK, status));
        var outageLog = served.Output[before..];
        Assert.Equal(0, await served.InterruptAsync());

        var lines = outageLog.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        log.WriteLine($"recovered after {recovered.TotalMilliseconds:0} ms; {ready.Count} probes; outage log:");
        foreach (var line in lines.Where(l => Workers.Any(w => l.Contains(w, StringComparison.Ordinal))))
        {
            log.WriteLine(line);
        }
        Assert.DoesNotMatch(StackFrame(), outageLog);
        // Besides the request log, only the outage's lost and back lines.
        Assert.All(lines, l => Assert.True(l.Contains(".RequestLog[", StringComparison.Ordinal) || Workers.Any(w => l.Contains($".{w}[", StringComparison.Ordinal)), l));
        Assert.Single(lines, l => l.Contains("warn: Lockstep.Platform.Database.EmbeddedPostgresSupervisor", StringComparison.Ordinal) && l.Contains("is gone", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("info: Lockstep.Platform.Database.EmbeddedPostgresSupervisor", StringComparison.Ordinal) && l.Contains("is back", StringComparison.Ordinal));
        // The listener's connection dies with the server, so it always sees the outage.
        Assert.Single(lines, l => l.Contains("warn: Lockstep.Gifts.NotificationListener", StringComparison.Ordinal) && l.Contains("lost the database", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("info: Lockstep.Gifts.NotificationListener", StringComparison.Ordinal) && l.Contains("reached the database again", StringComparison.Ordinal));
        foreach (var worker in Workers)
        {
            var count = lines.Count(l => l.Contains($".{worker}[", StringComparison.Ordinal));
            Assert.True(count <= 2, $"{worker} logged {count} lines about one outage");
        }
    }

    [Fact]
    public async Task Serve_WhenEveryRestartFails_TurnsLiveUnhealthyAfterMaxFailedRestarts()
    {
        await using var folder = new ClusterFolder();
        using var served = await ServedProcess.ServeAsync(folder.Path, settings: Settings);
        using var http = new HttpClient { BaseAddress = served.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        var before = served.Output.Length;

        // A running server never reads PG_VERSION again; the next start refuses the folder.
        var version = Path.Combine(folder.Cluster().DataDirectory, "PG_VERSION");
        await File.WriteAllTextAsync(version, "9\n");
        await KillPostmasterAsync(folder);
        var outage = Stopwatch.StartNew();
        var liveWhileRestarting = new List<HttpStatusCode>();
        HttpResponseMessage live;
        while ((live = await http.GetAsync("/health/live")).StatusCode == HttpStatusCode.OK)
        {
            Assert.True(outage.Elapsed < TimeSpan.FromSeconds(20), $"/health/live still 200 20 s after the kill:\n{served.Output[before..]}");
            liveWhileRestarting.Add(live.StatusCode);
            await Task.Delay(50);
        }
        var gaveUp = outage.Elapsed;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, live.StatusCode);
        Assert.Equal("Unhealthy: embedded PostgreSQL could not be restarted (3 failed restarts)", await live.Content.ReadAsStringAsync());
        Assert.NotEmpty(liveWhileRestarting);
        // At least the 0.2 + 0.4 s between the three tries (after the second of detection).
        Assert.True(gaveUp > TimeSpan.FromSeconds(0.6), $"gave up {gaveUp.TotalSeconds:0.0} s after the kill");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/ready")).StatusCode);
        Assert.False(served.HasExited);
        Assert.Equal(0, await served.InterruptAsync());

        var lines = served.Output[before..].Split('\n');
        log.WriteLine($"gave up after {gaveUp.TotalMilliseconds:0} ms");
        foreach (var line in lines.Where(l => l.Contains("EmbeddedPostgresSupervisor", StringComparison.Ordinal)))
        {
            log.WriteLine(line);
        }
        Assert.DoesNotMatch(StackFrame(), served.Output[before..]);
        Assert.Single(lines, l => l.Contains("fail: Lockstep.Platform.Database.EmbeddedPostgresSupervisor", StringComparison.Ordinal)
            && l.Contains("Gave up on the embedded PostgreSQL after 3 failed restarts", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Lockstep__Embedded__MaxFailedRestarts", "0", "Lockstep:Embedded:MaxFailedRestarts must be at least 1 (it is 0).")]
    [InlineData("Lockstep__Embedded__RestartDelay", "00:01:00", "Lockstep:Embedded:RestartDelay must be positive and at most Lockstep:Embedded:RestartMaxDelay (they are 00:01:00 and 00:00:30).")]
    [InlineData("Lockstep__Embedded__RestartDelay", "-00:00:01", "Lockstep:Embedded:RestartDelay must be positive")]
    public async Task Serve_WhenARestartSettingIsInvalid_RefusesToStartInOneSentence(string setting, string value, string message)
    {
        await using var folder = new ClusterFolder();
        var start = ServedProcess.StartInfo(folder.Path, "Production", new Dictionary<string, string> { [setting] = value }, "serve", "--urls", "http://127.0.0.1:0");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;

        Assert.Equal(1, process.ExitCode);
        Assert.Contains($"lockstep: {message}", output, StringComparison.Ordinal);
        Assert.DoesNotMatch(StackFrame(), output);
        Assert.Empty(folder.Processes());
    }

    private static async Task<int> KillPostmasterAsync(ClusterFolder folder)
    {
        var pid = folder.PostmasterPid(folder.Cluster());
        using var kill = Process.Start("kill", ["-9", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
        return pid;
    }

    /// <summary>A frame of a stack trace, as the console writes it (on the same line in single-line mode).</summary>
    [GeneratedRegex(@"\bat [A-Za-z_][\w.`<>]*\.[\w`<>|]+\(|--- End of")]
    private static partial Regex StackFrame();
}
