using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Platform.Database;
using Lockstep.Tests.Support;

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
        using (var first = await ServedProcess.ServeAsync(folder.Path))
        {
            var created = await first.Client(user).PostAsJsonAsync("/api/workspaces", new { name = "Served" });
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            workspace = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid();
            Assert.Equal(0, await first.InterruptAsync());
        }
        Assert.Empty(folder.Processes());

        using var second = await ServedProcess.ServeAsync(folder.Path);
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
        using (var served = await ServedProcess.ServeAsync(folder.Path, environment))
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
        var start = ServedProcess.StartInfo(dataDir, "Production", null, args);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
