using System.Diagnostics;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>The README's plain-fetch batch example (batch-fetch/readme-example.mjs), run by node against a real port.</summary>
public sealed class BatchFetchTests(KestrelServerFixture server) : IClassFixture<KestrelServerFixture>
{
    [Theory]
    [InlineData("2026-12-01T10:00:00Z", 200, 1L)]
    [InlineData("2026-12-01T08:00:00Z", 422, 0L)] // ends before it starts: refused, nothing kept
    public async Task ReadmeExample_WhenRunWithFetch_CommitsAllOrNothing(string endsAt, int status, long rows)
    {
        var owner = Guid.NewGuid();
        var created = await server.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Fetch')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        var baseUrl = server.BaseAddress.GetLeftPart(UriPartial.Authority);

        var output = await RunNodeAsync(baseUrl, server.Jwt.Mint(owner, TimeSpan.FromHours(1)), workspace.ToString(), endsAt);

        var answer = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(status, answer.GetProperty("status").GetInt32());
        if (status == 200)
        {
            Assert.Equal(3, answer.GetProperty("body").GetProperty("results").GetArrayLength());
        }
        else
        {
            Assert.Equal(2, answer.GetProperty("body").GetProperty("index").GetInt32());
            Assert.Equal("invalid_booking_times", answer.GetProperty("body").GetProperty("code").GetString());
        }
        Assert.Equal(rows, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace));
        Assert.Equal(rows, await server.ScalarAsync<long>("select count(*) from sessions.purchases where workspace_id = $1", workspace));
        Assert.Equal(rows, await server.ScalarAsync<long>("select count(*) from sessions.bookings where workspace_id = $1", workspace));
    }

    private static async Task<string> RunNodeAsync(params string[] args)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lockstep.slnx")))
        {
            root = root.Parent;
        }
        Assert.True(root is not null, $"no Lockstep.slnx above {AppContext.BaseDirectory}");
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Path.Combine(root.FullName, "tests", "Lockstep.Tests", "Platform", "Rpc", "batch-fetch"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("readme-example.mjs");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"node did not finish within 60 s: {await stderr}");
        }
        Assert.True(process.ExitCode == 0, $"node exited {process.ExitCode}: {await stderr}{await stdout}");
        return await stdout;
    }
}
