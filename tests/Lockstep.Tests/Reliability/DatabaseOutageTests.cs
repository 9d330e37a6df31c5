using System.Diagnostics;
using System.Net;
using Lockstep.Tests.Platform.Database;
using Lockstep.Tests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// PostgreSQL stopped under load (its own embedded cluster: the shared test cluster stays up) and started
/// again: while it is down every answer is a quick 503 with Retry-After and /health/ready is red; after
/// it returns the server recovers by itself, and every keyed write took effect exactly once.
/// </summary>
public sealed class DatabaseOutageTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Requests_WhenPostgresStopsAndRestartsUnderLoad_Answer503ThenRecoverWithNoLostOrDoubledWrites()
    {
        await using var folder = new ClusterFolder();
        var cluster = folder.Cluster(ClusterFolder.FreePort());
        await cluster.StartAsync();
        try
        {
            await using var factory = new LockstepFactory(cluster.ConnectionString);
            var owner = Guid.NewGuid();
            var http = factory.CreateClient().SignedIn(owner);
            http.Timeout = TimeSpan.FromSeconds(20);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);

            Guid workspace, pack;
            await using (var db = NpgsqlDataSource.Create(cluster.ConnectionString))
            {
                (workspace, pack) = await KeyedLoad.SetupAsync(db, owner);
            }

            // 6 clients, each retrying its keyed operation until it gets an answer.
            var load = new KeyedLoad(http, workspace, pack);
            using var stop = new CancellationTokenSource();
            var running = load.RunAsync(6, stop.Token);
            await Task.Delay(1000);

            await cluster.StopAsync();
            var readyWhileDown = await http.GetAsync("/health/ready");
            var watch = Stopwatch.StartNew();
            var readWhileDown = await http.GetAsync($"/api/workspaces/{workspace}/clients");
            var readLatency = watch.ElapsedMilliseconds;
            await Task.Delay(2000);

            await cluster.StartAsync();
            var restarted = Stopwatch.StartNew();
            while ((await http.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK)
            {
                Assert.True(restarted.Elapsed < TimeSpan.FromSeconds(15), "not ready 15 s after PostgreSQL returned");
                await Task.Delay(100);
            }
            var recovery = restarted.ElapsedMilliseconds;
            var sentAtRecovery = load.Sent;
            await Task.Delay(1000);
            await stop.CancelAsync();
            await running;

            Assert.Equal(HttpStatusCode.ServiceUnavailable, readyWhileDown.StatusCode);
            await Http.AssertProblemAsync(readWhileDown, HttpStatusCode.ServiceUnavailable, "database_unavailable");
            Assert.True(readWhileDown.Headers.RetryAfter is not null, "503 without Retry-After");
            Assert.True(readLatency < 5000, $"a read took {readLatency} ms while the database was down");
            Assert.True(load.Sent > sentAtRecovery, "no request after recovery");
            Assert.True(load.Statuses.ContainsKey(503), "the load never saw the outage");
            Assert.All(load.Statuses.Keys, status => Assert.Contains(status, new[] { 200, 201, 503 }));
            Assert.Equal(0, load.TransportErrors);
            Assert.True(load.MaxLatencyMs < 10_000, $"a request took {load.MaxLatencyMs} ms");

            await using var check = NpgsqlDataSource.Create(cluster.ConnectionString);
            var rows = await load.AssertExactlyOnceAsync(check, owner);
            output.WriteLine($"outage: {load.Summary()}; ready again {recovery} ms after restart; rows checked {rows}");
        }
        finally
        {
            await cluster.StopAsync();
        }
    }
}
