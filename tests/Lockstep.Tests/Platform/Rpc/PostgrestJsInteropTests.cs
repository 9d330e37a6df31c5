using System.Diagnostics;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>
/// Drives the server through the real <c>@supabase/postgrest-js</c> (postgrest-js/interop.mjs, pinned in its
/// package-lock.json), so compatibility means "what the client library makes of our answers", not only
/// "what our own HTTP client sees".
/// </summary>
public sealed class PostgrestJsInteropTests(KestrelServerFixture server) : IClassFixture<KestrelServerFixture>
{
    private static readonly SemaphoreSlim Installing = new(1, 1);

    [Fact]
    public async Task Rpc_WhenCalledThroughPostgrestJs_GivesTheDataErrorAndStatusPostgrestWould()
    {
        var folder = await InstalledClientFolderAsync();
        var owner = Guid.NewGuid();
        var token = server.Jwt.Mint(owner, TimeSpan.FromHours(1));
        var baseUrl = server.BaseAddress.GetLeftPart(UriPartial.Authority);

        var output = await RunAsync(folder, TimeSpan.FromSeconds(60), "node", "interop.mjs", baseUrl, token);
        var results = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;

        var created = results.GetProperty("createWorkspace");
        Assert.Equal(200, created.GetProperty("status").GetInt32());
        Assert.Equal(JsonValueKind.Null, created.GetProperty("error").ValueKind);
        Assert.True(created.GetProperty("data").GetProperty("success").GetBoolean());
        var workspace = created.GetProperty("data").GetProperty("workspace_id").GetGuid();
        Assert.Equal(1L, await server.ScalarAsync<long>(
            "select count(*) from platform.workspaces where id = $1 and name = 'Interop' and created_by = $2", workspace, owner));

        foreach (var call in new[] { "primaryWithWorkspace", "primaryIdOnly" })
        {
            var primary = results.GetProperty(call);
            Assert.Equal(200, primary.GetProperty("status").GetInt32());
            Assert.True(primary.GetProperty("data").GetProperty("success").GetBoolean(), primary.ToString());
        }
        Assert.Equal(results.GetProperty("annId").GetGuid(), await server.ScalarAsync<Guid>(
            "select id from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, results.GetProperty("clientId").GetGuid()));
        foreach (var call in new[] { "useWithWorkspace", "useIdOnly" })
        {
            Assert.Equal(200, results.GetProperty(call).GetProperty("status").GetInt32());
            Assert.True(results.GetProperty(call).GetProperty("data").GetBoolean(), results.GetProperty(call).ToString());
        }
        Assert.Equal(2, await server.ScalarAsync<int>("select sessions_used from sessions.purchases where id = $1", results.GetProperty("purchaseId").GetGuid()));

        AssertPgrst202(results.GetProperty("unknownFunction"),
            "Could not find the function public.no_such_function without parameters in the schema cache",
            "Searched for the function public.no_such_function without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.");
        AssertPgrst202(results.GetProperty("unknownFunctionWithArgument"),
            "Could not find the function public.no_such_function(p_name) in the schema cache",
            "Searched for the function public.no_such_function with parameter p_name or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.");

        var signedOut = results.GetProperty("signedOut");
        Assert.Equal(401, signedOut.GetProperty("status").GetInt32());
        Assert.Equal(JsonValueKind.Null, signedOut.GetProperty("data").ValueKind);
        Assert.Equal("42501", signedOut.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("permission denied for function list_workspaces", signedOut.GetProperty("error").GetProperty("message").GetString());
    }

    private static void AssertPgrst202(JsonElement result, string message, string details)
    {
        Assert.Equal(404, result.GetProperty("status").GetInt32());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("data").ValueKind);
        var error = result.GetProperty("error");
        Assert.Equal(["code", "details", "hint", "message"], error.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal("PGRST202", error.GetProperty("code").GetString());
        Assert.Equal(message, error.GetProperty("message").GetString());
        Assert.Equal(details, error.GetProperty("details").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("hint").ValueKind);
    }

    /// <summary>The interop folder in the source tree, with its locked dependencies installed once per run.</summary>
    private static async Task<string> InstalledClientFolderAsync()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lockstep.slnx")))
        {
            root = root.Parent;
        }
        Assert.True(root is not null, $"no Lockstep.slnx above {AppContext.BaseDirectory}");
        var folder = Path.Combine(root.FullName, "tests", "Lockstep.Tests", "Platform", "Rpc", "postgrest-js");

        await Installing.WaitAsync();
        try
        {
            if (!Directory.Exists(Path.Combine(folder, "node_modules", "@supabase", "postgrest-js")))
            {
                await RunAsync(folder, TimeSpan.FromMinutes(3), "npm", "ci", "--no-audit", "--no-fund");
            }
        }
        finally
        {
            Installing.Release();
        }
        return folder;
    }

    private static async Task<string> RunAsync(string folder, TimeSpan timeout, string program, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish within {timeout}: {await stderr}");
        }
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}{await stdout}");
        return await stdout;
    }
}
