using System.Net;
using System.Text.Json;
using Lockstep.Platform.Http;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Npgsql;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// A call that runs past <c>Lockstep:Database:CommandTimeoutSeconds</c> (Npgsql cancels it in the
/// database) or past PostgreSQL's own <c>statement_timeout</c> is answered 504 once: it is not taken
/// for a lost connection, so it is not run again and the pool keeps its connections. The slow calls
/// are real (<c>pg_sleep</c>); each bumps a sequence before sleeping, which no rollback undoes, so the
/// sequence counts how many times the call ran.
/// </summary>
public sealed class DatabaseTimeoutTests
{
    private const string SlowCalls = """
        create sequence public.test_slow_runs;
        grant usage on sequence public.test_slow_runs to lockstep_api;

        -- Creating a workspace named 'slow' sleeps; any other is as fast as ever.
        create function public.test_slow_workspace() returns trigger language plpgsql as $$
        begin
          if new.name = 'slow' then
            perform nextval('public.test_slow_runs');
            perform pg_sleep(5);
          end if;
          return new;
        end $$;
        create trigger test_slow_workspace before insert on platform.workspaces
          for each row execute function public.test_slow_workspace();

        create function public.test_slow_read() returns integer language plpgsql stable as $$
        begin
          perform nextval('public.test_slow_runs');
          perform pg_sleep(5);
          return 1;
        end $$;
        grant execute on function public.test_slow_read() to lockstep_api;
        """;

    [Fact]
    public async Task KeyedPost_WhenTheCallRunsPastTheCommandTimeout_RunsOnceAnswers504AndKeepsThePool()
    {
        await using var world = await SlowWorld.StartAsync(commandTimeoutSeconds: 1);
        var client = world.Client();
        var idle = await world.WarmIdleConnectionsAsync(client);

        var response = await client.SendAsync(Keyed("/api/workspaces", """{"name": "slow"}"""));

        Assert.Equal(1, await world.RunsAsync());
        await Http.AssertProblemAsync(response, HttpStatusCode.GatewayTimeout, "database_timeout");
        await world.AssertPoolKeptAsync(client, idle);
    }

    [Fact]
    public async Task KeyedPost_WhenTheDatabasesStatementTimeoutCancelsTheCall_RunsOnceAnswers504AndKeepsThePool()
    {
        await using var world = await SlowWorld.StartAsync(statementTimeout: "1s");
        var client = world.Client();
        var idle = await world.WarmIdleConnectionsAsync(client);

        var response = await client.SendAsync(Keyed("/api/workspaces", """{"name": "slow"}"""));

        Assert.Equal(1, await world.RunsAsync());
        await Http.AssertProblemAsync(response, HttpStatusCode.GatewayTimeout, "database_timeout");
        await world.AssertPoolKeptAsync(client, idle);
    }

    [Fact]
    public async Task RpcGet_WhenTheReadRunsPastTheCommandTimeout_RunsOnceAnswers504AndKeepsThePool()
    {
        await using var world = await SlowWorld.StartAsync(commandTimeoutSeconds: 1);
        var client = world.Client();
        var idle = await world.WarmIdleConnectionsAsync(client);

        var response = await client.GetAsync("/rest/v1/rpc/test_slow_read");

        Assert.Equal(1, await world.RunsAsync());
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("57014", JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
        await world.AssertPoolKeptAsync(client, idle);
    }

    private static HttpRequestMessage Keyed(string path, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Http.Json(json) };
        request.Headers.Add(Idempotency.KeyHeader, Guid.NewGuid().ToString());
        return request;
    }

    /// <summary>A fresh database with the slow calls, and a server over it with the given time limits.</summary>
    private sealed class SlowWorld : IAsyncDisposable
    {
        private readonly Guid _user = Guid.NewGuid();

        private SlowWorld(NpgsqlDataSource owner, LockstepFactory root, Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> factory)
        {
            Owner = owner;
            Root = root;
            Factory = factory;
        }

        private NpgsqlDataSource Owner { get; }

        private LockstepFactory Root { get; }

        private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> Factory { get; }

        public static async Task<SlowWorld> StartAsync(int? commandTimeoutSeconds = null, string? statementTimeout = null)
        {
            var connectionString = await TestCluster.CreateDatabaseAsync();
            var owner = NpgsqlDataSource.Create(connectionString);
            await using (var create = owner.CreateCommand(SlowCalls))
            {
                await create.ExecuteNonQueryAsync();
            }
            if (statementTimeout is not null)
            {
                var database = new NpgsqlConnectionStringBuilder(connectionString).Database;
                await using var set = owner.CreateCommand($"alter database \"{database}\" set statement_timeout = '{statementTimeout}'");
                await set.ExecuteNonQueryAsync();
            }
            var root = new LockstepFactory(connectionString);
            var factory = root.WithWebHostBuilder(b =>
            {
                if (commandTimeoutSeconds is { } seconds)
                {
                    b.UseSetting("Lockstep:Database:CommandTimeoutSeconds", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
            });
            return new SlowWorld(owner, root, factory);
        }

        public HttpClient Client() => Factory.Client(_user);

        /// <summary>How many times a slow call started.</summary>
        public async Task<long> RunsAsync()
        {
            await using var count = Owner.CreateCommand("select case when is_called then last_value else 0 end from public.test_slow_runs");
            return (long)(await count.ExecuteScalarAsync())!;
        }

        /// <summary>Fills the pool with a few connections and returns the backends now idle in this database.</summary>
        public async Task<int[]> WarmIdleConnectionsAsync(HttpClient client)
        {
            var reads = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.GetAsync("/api/workspaces")));
            Assert.All(reads, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            var idle = await IdleBackendsAsync();
            Assert.NotEmpty(idle);
            return idle;
        }

        /// <summary>
        /// The pool was not cleared (a clear closes every idle connection, ending its backend), and a request
        /// right after is served on a connection it already had.
        /// </summary>
        public async Task AssertPoolKeptAsync(HttpClient client, int[] idleBefore)
        {
            var backends = await BackendsAsync();
            Assert.Empty(idleBefore.Except(backends));
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/workspaces")).StatusCode);
            Assert.Empty((await BackendsAsync()).Except(backends));
        }

        private Task<int[]> IdleBackendsAsync() => PidsAsync("and state = 'idle'");

        private Task<int[]> BackendsAsync() => PidsAsync("");

        private async Task<int[]> PidsAsync(string condition)
        {
            await using var pids = Owner.CreateCommand(
                $"select coalesce(array_agg(pid order by pid), '{{}}') from pg_stat_activity where datname = current_database() and application_name = 'lockstep' {condition}");
            return (int[])(await pids.ExecuteScalarAsync())!;
        }

        public async ValueTask DisposeAsync()
        {
            await Factory.DisposeAsync();
            await Root.DisposeAsync();
            await Owner.DisposeAsync();
        }
    }
}
