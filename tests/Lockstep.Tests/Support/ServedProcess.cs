using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Platform.Database;

namespace Lockstep.Tests.Support;

/// <summary>
/// The real program, <c>lockstep serve</c>, on the embedded cluster in a test's data folder, with its
/// output (stdout and stderr) collected.
/// </summary>
internal sealed class ServedProcess(Process process, Uri baseAddress, string dataDir, StringBuilder output) : IDisposable
{
    /// <summary>Starts <c>lockstep serve</c> and waits until <c>/health/ready</c> answers 200.</summary>
    public static async Task<ServedProcess> ServeAsync(string dataDir, string environment = "Production", IReadOnlyDictionary<string, string>? settings = null)
    {
        var port = ClusterFolder.FreePort();
        var process = Process.Start(StartInfo(dataDir, environment, settings, "serve", "--urls", $"http://127.0.0.1:{port}"))!;
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

    /// <summary>The program with <paramref name="args"/>, on the embedded cluster in <paramref name="dataDir"/>; <paramref name="settings"/> as environment variables.</summary>
    public static ProcessStartInfo StartInfo(string dataDir, string environment, IReadOnlyDictionary<string, string>? settings, params string[] args)
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
        foreach (var (name, value) in settings ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return start;
    }

    public Uri BaseAddress => baseAddress;

    public bool HasExited => process.HasExited;

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
