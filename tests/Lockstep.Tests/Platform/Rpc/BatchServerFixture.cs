using System.Net;
using System.Text.Json;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>A server for batch tests: its exposed schema also holds test-only functions (a sleep, a void one).</summary>
public sealed class BatchServerFixture : ServerFixture
{
    protected override Task BeforeServerStartsAsync() => Batches.CreateTestFunctionsAsync(DataSource);
}

/// <summary>
/// A server with tight batch limits: a 1 s batch timeout, at most 3 calls, 4 KB bodies. Its own host,
/// because the limits are read from configuration.
/// </summary>
public sealed class BatchLimitsFixture : DatabaseFixture
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);
    private LockstepFactory _root = null!;

    public WebApplicationFactory<Program> Factory { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Batches.CreateTestFunctionsAsync(DataSource);
        _root = new LockstepFactory(ConnectionString);
        Factory = _root.WithWebHostBuilder(b => b
            .UseSetting("Lockstep:Rpc:BatchTimeout", "00:00:01")
            .UseSetting("Lockstep:Rpc:MaxBatchCalls", "3")
            .UseSetting("Lockstep:MaxRequestBodyBytes", "4096"));
        _ = Factory.Server;
    }

    public override async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await _root.DisposeAsync();
        await base.DisposeAsync();
    }

    public HttpClient Client(Guid user) => Factory.Client(user);
}

/// <summary>Sending batches and reading their answers.</summary>
public static class Batches
{
    public static async Task CreateTestFunctionsAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("""
            create function public.test_batch_sleep(p_seconds double precision) returns jsonb
            language plpgsql as $$ begin perform pg_sleep(p_seconds); return jsonb_build_object('success', true, 'slept', p_seconds); end $$;

            create function public.test_batch_note(p_note text) returns void
            language plpgsql as $$ begin perform p_note; end $$;

            create function public.test_batch_echo(p_value jsonb) returns jsonb
            language sql immutable as $$ select p_value $$;

            grant execute on function public.test_batch_sleep(double precision), public.test_batch_note(text), public.test_batch_echo(jsonb) to lockstep_api;
            """);
        await command.ExecuteNonQueryAsync();
    }

    public static Task<HttpResponseMessage> PostAsync(HttpClient client, string body) =>
        client.PostAsync("/rest/v1/rpc", Http.Json(body));

    /// <summary>Serialises <c>{"calls": [...]}</c> from (fn, args) pairs; args may hold <see cref="Ref"/> objects.</summary>
    public static string Body(params (string Fn, object Args)[] calls) =>
        JsonSerializer.Serialize(new { calls = calls.Select(c => new { fn = c.Fn, args = c.Args }) });

    public static Dictionary<string, string> Ref(string path) => new() { ["$ref"] = path };

    public static async Task<JsonElement[]> AssertResultsAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(["results"], body.EnumerateObject().Select(p => p.Name));
        return body.GetProperty("results").EnumerateArray().ToArray();
    }

    /// <summary>Asserts a batch error: PostgREST's four members plus <c>index</c> (and <c>refusal</c> for a refused call).</summary>
    public static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code, int? index)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(code, body.GetProperty("code").GetString());
        foreach (var member in new[] { "details", "hint", "message" })
        {
            Assert.True(body.TryGetProperty(member, out _), $"no '{member}' in {text}");
        }
        if (index is null)
        {
            Assert.Equal(JsonValueKind.Null, body.GetProperty("index").ValueKind);
        }
        else
        {
            Assert.Equal(index, body.GetProperty("index").GetInt32());
        }
        Assert.False(text.Contains("   at ", StringComparison.Ordinal), "a stack trace leaked into the response");
        return body;
    }

    public static Guid Id(JsonElement result, string field) => result.GetProperty(field).GetGuid();
}
