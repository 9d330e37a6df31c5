using System.Diagnostics;
using System.Net;
using System.Text;
using Lockstep.Tests.Platform.Database;
using Lockstep.Tests.Support;
using Xunit.Abstractions;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// The real server process (<c>dotnet lockstep.dll serve</c> on a database of the test cluster) under a
/// load of keyed requests, killed with SIGKILL at random moments and started again, while its clients
/// retry every unanswered request with the same Idempotency-Key: every operation took effect exactly
/// once and the modules' invariants hold, counted in SQL.
/// </summary>
public sealed class CrashTests(DatabaseFixture db, ITestOutputHelper output) : IClassFixture<DatabaseFixture>
{
    private const int Kills = 10;

    [Fact]
    public async Task KeyedRequests_WhenTheServerIsKilledTenTimesAndClientsRetry_TakeEffectExactlyOnce()
    {
        var owner = Guid.NewGuid();
        var (workspace, pack) = await KeyedLoad.SetupAsync(db.DataSource, owner);
        var port = ClusterFolder.FreePort();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) }.SignedIn(owner);

        var server = await StartAsync(port, http);
        var load = new KeyedLoad(http, workspace, pack);
        using var stop = new CancellationTokenSource();
        var random = new Random(7);
        var running = load.RunAsync(8, stop.Token);
        try
        {
            for (var kill = 0; kill < Kills; kill++)
            {
                await Task.Delay(random.Next(150, 900));
                server.Kill(); // SIGKILL: no shutdown, no flush, in-flight transactions cut off
                await server.WaitForExitAsync();
                server.Dispose();
                server = await StartAsync(port, http);
            }
            await Task.Delay(500);
            await stop.CancelAsync();
            await running;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }
            server.Dispose();
        }

        var rows = await load.AssertExactlyOnceAsync(db.DataSource, owner);
        Assert.True(load.TransportErrors > 0, "no request was cut off by a kill");
        output.WriteLine($"crash: {Kills} SIGKILLs survived; {load.Summary()}; rows checked {rows}");
    }

    [Fact]
    public async Task Serve_WhenSigtermArrivesDuringARequest_StopsAcceptingFinishesItAndExitsCleanly()
    {
        var owner = Guid.NewGuid();
        var (_, pack) = await KeyedLoad.SetupAsync(db.DataSource, owner);
        var port = ClusterFolder.FreePort();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) }.SignedIn(owner);
        using var server = await StartAsync(port, http);

        // The test holds the pack's row, so the request is in flight inside the database when SIGTERM comes.
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await using var holder = await connection.BeginTransactionAsync();
        await using (var hold = new Npgsql.NpgsqlCommand("select 1 from sessions.purchases where id = $1 for update", connection, holder))
        {
            hold.Parameters.Add(new Npgsql.NpgsqlParameter { Value = pack });
            await hold.ExecuteScalarAsync();
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/purchases/{pack}/use");
        request.Headers.Add(Lockstep.Platform.Http.Idempotency.KeyHeader, "in-flight");
        var inFlight = http.SendAsync(request);
        while (await db.ScalarAsync<long>("select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%consume_session%'") == 0)
        {
            await Task.Delay(25);
        }

        using (var term = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }
        await Task.Delay(500);
        using (var fresh = new HttpClient { BaseAddress = http.BaseAddress, Timeout = TimeSpan.FromSeconds(5) })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => fresh.GetAsync("/health/live"));
        }
        await holder.RollbackAsync();

        using var answered = await inFlight;
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await server.WaitForExitAsync(exit.Token);
        Assert.Equal(0, server.ExitCode);
        Assert.Equal(1, await db.ScalarAsync<int>("select sessions_used from sessions.purchases where id = $1", pack));
    }

    private async Task<Process> StartAsync(int port, HttpClient http)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "lockstep.dll"), "serve", "--urls", $"http://127.0.0.1:{port}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ConnectionStrings__Lockstep"] = db.ConnectionString,
                ["Lockstep__JwtSecret"] = ServerFixture.JwtSecret,
                ["Lockstep__Sessions__AutoCompleteInterval"] = "0",
                ["Logging__LogLevel__Default"] = "Warning",
            },
        };
        var process = Process.Start(start)!;
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
        {
            try
            {
                using var ready = await http.GetAsync("/health/ready");
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    return process;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"lockstep serve never became ready:\n{log}");
    }
}
