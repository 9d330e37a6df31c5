using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Platform.Database;

namespace Lockstep.Tests.Platform;

/// <summary>
/// The real program, as a new user runs it: <c>lockstep serve</c> with no database configured starts the
/// embedded cluster, answers ready, serves an authenticated call, stops everything on Ctrl-C (SIGINT)
/// and finds its data again on the next start; its output never carries a secret.
/// </summary>
public sealed class ServeProcessTests
{
    [Fact]
    public async Task Serve_WhenNoDatabaseIsConfigured_RunsOnTheEmbeddedClusterAndStopsItOnCtrlC()
    {
        await using var folder = new ClusterFolder();
        var user = Guid.NewGuid();

        Guid workspace;
        using (var first = await ServeAsync(folder.Path))
        {
            var created = await first.Client(user).PostAsJsonAsync("/api/workspaces", new { name = "Served" });
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            workspace = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid();
            Assert.Equal(0, await first.InterruptAsync());
        }
        Assert.Empty(folder.Processes());

        using var second = await ServeAsync(folder.Path);
        var listed = await second.Client(user).GetFromJsonAsync<JsonElement>("/api/workspaces");
        Assert.Equal(workspace, Assert.Single(listed.EnumerateArray()).GetProperty("workspace_id").GetGuid());
        Assert.Equal(0, await second.InterruptAsync());
        Assert.Empty(folder.Processes());
    }

    [Theory]
    [InlineData("Production")]
    [InlineData("Development")]
    public async Task Serve_WhenOnTheEmbeddedCluster_NamesTheSecretFileButPrintsNoSecretOrPassword(string environment)
    {
        await using var folder = new ClusterFolder();

        string output;
        using (var served = await ServeAsync(folder.Path, environment))
        {
            var created = await served.Client(Guid.NewGuid()).PostAsJsonAsync("/api/workspaces", new { name = "Quiet" });
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            Assert.Equal(0, await served.InterruptAsync());
            output = served.Output;
        }

        Assert.Contains($"Hosting environment: {environment}", output, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(folder.Path, "jwt-secret"), output, StringComparison.Ordinal);
        AssertNoSecretIn(output, folder.Path);
    }

    [Fact]
    public async Task Token_WhenSigningWithTheDevelopmentSecret_PrintsOnlyATokenThatVerifies()
    {
        await using var folder = new ClusterFolder();
        var user = Guid.NewGuid();

        var (exitCode, output) = await RunAsync(folder.Path, "token", "--user", user.ToString());

        Assert.Equal(0, exitCode);
        var secret = File.ReadAllText(Path.Combine(folder.Path, "jwt-secret")).Trim();
        var jwt = new Hs256Jwt(Encoding.UTF8.GetBytes(secret), "authenticated");
        Assert.True(jwt.TryVerify(output.Trim(), out var verified, out var rejection), rejection.ToString());
        Assert.Equal(user, verified!.UserId);
        AssertNoSecretIn(output, folder.Path);
    }

    [Fact]
    public async Task Token_WhenAppsettingsJsonInTheWorkingDirectorySetsTheSecret_SignsWithItAsServeWould()
    {
        // serve reads appsettings.json from the working directory (the repository root under ./lockstep); so must token.
        await using var folder = new ClusterFolder();
        const string secret = "appsettings-secret-0123456789-abcdefghijklmnop";
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "appsettings.json"), $$$"""{"Lockstep": {"JwtSecret": "{{{secret}}}"}}""");
        var user = Guid.NewGuid();

        var (exitCode, output) = await RunAsync(folder.Path, "token", "--user", user.ToString());

        Assert.Equal(0, exitCode);
        var jwt = new Hs256Jwt(Encoding.UTF8.GetBytes(secret), "authenticated");
        Assert.True(jwt.TryVerify(output.Trim(), out var verified, out var rejection), $"{rejection}: {output}");
        Assert.Equal(user, verified!.UserId);
        Assert.False(File.Exists(Path.Combine(folder.Path, "jwt-secret")), "a development secret was made although one is configured");
    }

    /// <summary>Neither the JWT secret nor any password kept in the data folder appears in <paramref name="output"/>.</summary>
    private static void AssertNoSecretIn(string output, string dataDir)
    {
        var files = Directory.GetFiles(dataDir, "*password*").Append(Path.Combine(dataDir, "jwt-secret")).Where(File.Exists).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var secret = File.ReadAllText(file).Trim();
            Assert.True(secret.Length >= 16, $"{file} holds no secret");
            Assert.False(output.Contains(secret, StringComparison.Ordinal), $"the content of {file} was printed:\n{output}");
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string dataDir, params string[] args)
    {
        var start = Start(dataDir, "Production", args);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static ProcessStartInfo Start(string dataDir, string environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "lockstep.dll") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dataDir,
            Environment =
            {
                ["ASPNETCORE_ENVIRONMENT"] = environment,
                ["Lockstep__DataDir"] = dataDir,
                ["Lockstep__Embedded__Port"] = "0",
            },
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return start;
    }

    private static async Task<ServedProcess> ServeAsync(string dataDir, string environment = "Production")
    {
        var port = ClusterFolder.FreePort();
        var process = Process.Start(Start(dataDir, environment, "serve", "--urls", $"http://127.0.0.1:{port}"))!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var served = new ServedProcess(process, new Uri($"http://127.0.0.1:{port}"), dataDir, output);
        using var probe = new HttpClient { BaseAddress = served.BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((await probe.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK)
                {
                    return served;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet, or too slow to answer on a busy machine
            }
            await Task.Delay(100);
        }
        served.Dispose();
        throw new Xunit.Sdk.XunitException($"lockstep serve never became ready:\n{output}");
    }

    private sealed class ServedProcess(Process process, Uri baseAddress, string dataDir, StringBuilder output) : IDisposable
    {
        public Uri BaseAddress => baseAddress;

        /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
        public string Output
        {
            get
            {
                lock (output)
                {
                    return output.ToString();
                }
            }
        }

        /// <summary>A client with a token signed by the development secret the server generated.</summary>
        public HttpClient Client(Guid user)
        {
            var secret = File.ReadAllText(Path.Combine(dataDir, "jwt-secret")).Trim();
            var jwt = new Hs256Jwt(Encoding.UTF8.GetBytes(secret), "authenticated");
            var client = new HttpClient { BaseAddress = baseAddress };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", jwt.Mint(user, TimeSpan.FromMinutes(5)));
            return client;
        }

        /// <summary>Sends SIGINT, as Ctrl-C in a terminal does, and returns the exit code.</summary>
        public async Task<int> InterruptAsync()
        {
            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n{output}");
            return process.ExitCode;
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            process.Dispose();
        }
    }
}
