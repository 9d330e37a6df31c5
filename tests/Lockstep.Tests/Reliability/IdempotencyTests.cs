using System.Net;
using System.Text.Json;
using Lockstep.Platform.Http;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Reliability;

/// <summary>Idempotency-Key on POST /api: replay, reuse, in progress, scope, expiry and purge.</summary>
public sealed class IdempotencyTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static HttpRequestMessage Post(string path, string? json, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = json is null ? null : Http.Json(json) };
        if (key is not null)
        {
            request.Headers.Add(Idempotency.KeyHeader, key);
        }
        return request;
    }

    private Task<long> WorkspacesOf(Guid user) =>
        server.ScalarAsync<long>("select count(*) from platform.workspaces where created_by = $1", user);

    private static bool Replayed(HttpResponseMessage response) =>
        response.Headers.TryGetValues(Idempotency.ReplayedHeader, out var values) && values.Single() == "true";

    [Fact]
    public async Task Post_WhenRetriedWithTheSameKey_ReplaysTheFirstResponseAndActsOnce()
    {
        var (owner, _, client) = await ClientAsync(server);
        var http = server.Client(owner);
        var key = Guid.NewGuid().ToString();

        var first = await http.SendAsync(Post($"/api/clients/{client}/purchases", """{"sessions_total": 3, "price": 90.00}""", key));
        var second = await http.SendAsync(Post($"/api/clients/{client}/purchases", """{"sessions_total": 3, "price": 90.00}""", key));

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.False(Replayed(first));
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.True(Replayed(second));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.NotNull(first.Headers.Location);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(first.Content.Headers.ContentType?.MediaType, second.Content.Headers.ContentType?.MediaType);
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from sessions.purchases where client_id = $1", client));
    }

    [Fact]
    public async Task Post_WhenRetriedWithTheSameKeyOnA200Route_Replays200WithoutLocation()
    {
        var user = Guid.NewGuid();
        var http = server.Client(user);
        var key = Guid.NewGuid().ToString();

        var first = await http.SendAsync(Post("/api/workspaces", """{"name": "Once"}""", key));
        var second = await http.SendAsync(Post("/api/workspaces", """{"name": "Once"}""", key));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.True(Replayed(second));
        Assert.Null(first.Headers.Location);
        Assert.Null(second.Headers.Location);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.Equal(1, await WorkspacesOf(user));
    }

    [Fact]
    public async Task Post_WhenTheFirstWasRefused_ReplaysTheRefusal()
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 1);
        var http = server.Client(owner);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post($"/api/purchases/{pack}/use", null, "use-1"))).StatusCode);

        var refused = await http.SendAsync(Post($"/api/purchases/{pack}/use", null, "use-2"));
        await Http.AssertProblemAsync(refused, HttpStatusCode.UnprocessableEntity, "sessions_exhausted");
        await server.ScalarAsync<int>("update sessions.purchases set sessions_total = 5 where id = $1 returning 1", pack);
        var again = await http.SendAsync(Post($"/api/purchases/{pack}/use", null, "use-2"));

        await Http.AssertProblemAsync(again, HttpStatusCode.UnprocessableEntity, "sessions_exhausted");
        Assert.True(Replayed(again));
        Assert.Equal(1, await UsedAsync(server, pack));
    }

    [Fact]
    public async Task Post_WhenTheKeyIsReusedForAnotherRequest_Returns422AndActsNot()
    {
        var user = Guid.NewGuid();
        var http = server.Client(user);
        var key = Guid.NewGuid().ToString();
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post("/api/workspaces", """{"name": "A"}""", key))).StatusCode);

        await Http.AssertProblemAsync(await http.SendAsync(Post("/api/workspaces", """{"name": "B"}""", key)),
            HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        Assert.Equal(1, await WorkspacesOf(user));
    }

    [Fact]
    public async Task Post_WhenAnotherCallerUsesTheSameKey_RunsForThemSeparately()
    {
        var (alice, bob) = (Guid.NewGuid(), Guid.NewGuid());
        var key = Guid.NewGuid().ToString();

        var forAlice = await server.Client(alice).SendAsync(Post("/api/workspaces", """{"name": "Same"}""", key));
        var forBob = await server.Client(bob).SendAsync(Post("/api/workspaces", """{"name": "Same"}""", key));

        Assert.False(Replayed(forBob));
        Assert.NotEqual(await forAlice.Content.ReadAsStringAsync(), await forBob.Content.ReadAsStringAsync());
        Assert.Equal(1, await WorkspacesOf(alice));
        Assert.Equal(1, await WorkspacesOf(bob));
    }

    [Fact]
    public async Task Post_WhenTheFirstIsStillRunning_Returns409InProgressThenReplays()
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 3);
        var http = server.Client(owner);

        // The test holds the pack's row, so the first request waits inside the database.
        await using var connection = await server.DataSource.OpenConnectionAsync();
        await using var holder = await connection.BeginTransactionAsync();
        await using (var hold = new Npgsql.NpgsqlCommand("select 1 from sessions.purchases where id = $1 for update", connection, holder))
        {
            hold.Parameters.Add(new Npgsql.NpgsqlParameter { Value = pack });
            await hold.ExecuteScalarAsync();
        }
        var first = http.SendAsync(Post($"/api/purchases/{pack}/use", null, "held"));
        await WaitUntilWaitingAsync(pack);

        await Http.AssertProblemAsync(await http.SendAsync(Post($"/api/purchases/{pack}/use", null, "held")),
            HttpStatusCode.Conflict, "idempotency_key_in_progress");
        await holder.RollbackAsync();

        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        var retried = await http.SendAsync(Post($"/api/purchases/{pack}/use", null, "held"));
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.True(Replayed(retried));
        Assert.Equal(1, await UsedAsync(server, pack));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Post_WhenItsConnectionIsKilledBeforeCommit_IsRetriedOnlyWithAKey(bool keyed)
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 3);
        var http = server.Client(owner);

        await using var connection = await server.DataSource.OpenConnectionAsync();
        await using var holder = await connection.BeginTransactionAsync();
        await using (var hold = new Npgsql.NpgsqlCommand("select 1 from sessions.purchases where id = $1 for update", connection, holder))
        {
            hold.Parameters.Add(new Npgsql.NpgsqlParameter { Value = pack });
            await hold.ExecuteScalarAsync();
        }
        var first = http.SendAsync(Post($"/api/purchases/{pack}/use", null, keyed ? "killed" : null));
        await WaitUntilWaitingAsync(pack);
        await server.ScalarAsync<bool>(
            "select bool_and(pg_terminate_backend(pid)) from pg_stat_activity where wait_event_type = 'Lock' and query like '%consume_session%'");
        if (keyed)
        {
            await WaitUntilWaitingAsync(pack); // the retry, in a new transaction
        }
        await holder.RollbackAsync();

        var response = await first;
        if (keyed)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(1, await UsedAsync(server, pack));
        }
        else
        {
            // Without a key the server cannot know the outcome is safe to repeat: 503, the client decides.
            await Http.AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "database_unavailable");
            Assert.True(response.Headers.RetryAfter is not null);
            Assert.Equal(0, await UsedAsync(server, pack));
        }
    }

    private async Task WaitUntilWaitingAsync(Guid pack)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await server.ScalarAsync<long>(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%consume_session%'") > 0)
            {
                return;
            }
            await Task.Delay(25);
        }
        Assert.Fail($"the use of {pack} never waited for the test's lock");
    }

    [Fact]
    public async Task Post_WhenTheKeyExpired_RunsAgainAndThePurgeDeletesIt()
    {
        var user = Guid.NewGuid();
        var http = server.Client(user);
        var key = Guid.NewGuid().ToString();
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post("/api/workspaces", """{"name": "Old"}""", key))).StatusCode);
        await server.ScalarAsync<int>(
            "update platform.idempotency_keys set expires_at = now() - interval '1 second' where key = $1 returning 1", key);

        var again = await http.SendAsync(Post("/api/workspaces", """{"name": "Old"}""", key));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.False(Replayed(again));
        Assert.Equal(2, await WorkspacesOf(user));

        await server.ScalarAsync<int>(
            "update platform.idempotency_keys set expires_at = now() - interval '1 second' where key = $1 returning 1", key);
        Assert.True(await IdempotencyPurge.PurgeAsync(server.DataSource, CancellationToken.None) >= 1);
        Assert.Equal(0, await server.ScalarAsync<long>("select count(*) from platform.idempotency_keys where key = $1", key));
    }

    [Fact]
    public async Task Post_WhenTheKeyIsTooLong_Returns400AndActsNot()
    {
        var user = Guid.NewGuid();
        var value = new string('x', Idempotency.MaxKeyLength + 1);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/workspaces") { Content = Http.Json("""{"name": "No"}""") };
        request.Headers.TryAddWithoutValidation(Idempotency.KeyHeader, value);

        await Http.AssertProblemAsync(await server.Client(user).SendAsync(request), HttpStatusCode.BadRequest, "invalid_idempotency_key");
        Assert.Equal(0, await WorkspacesOf(user));
    }

    [Fact]
    public async Task Post_WhenAnonymousSendsAKey_Returns400()
    {
        await Http.AssertProblemAsync(await server.Client().SendAsync(Post("/api/webhooks/whatsapp", "{}", "anon")),
            HttpStatusCode.BadRequest, "idempotency_key_not_allowed");
    }

    [Fact]
    public async Task Post_WhenTheBodyIsBad_StoresNothingSoAFixedRetryRuns()
    {
        var user = Guid.NewGuid();
        var http = server.Client(user);
        var key = Guid.NewGuid().ToString();

        await Http.AssertProblemAsync(await http.SendAsync(Post("/api/workspaces", """{"name": 5}""", key)),
            HttpStatusCode.BadRequest, "invalid_field");
        Assert.Equal(0, await server.ScalarAsync<long>("select count(*) from platform.idempotency_keys where key = $1", key));
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post("/api/workspaces", """{"name": "Fixed"}""", key))).StatusCode);
    }

    [Fact]
    public async Task Rpc_WhenRetriedWithTheSameKey_ReplaysAndActsOnce()
    {
        var user = Guid.NewGuid();
        var http = server.Client(user);
        var key = Guid.NewGuid().ToString();

        var first = await http.SendAsync(Post("/rest/v1/rpc/create_workspace", """{"p_name": "Rpc"}""", key));
        var second = await http.SendAsync(Post("/rest/v1/rpc/create_workspace", """{"p_name": "Rpc"}""", key));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.True(Replayed(second));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.Equal(1, await WorkspacesOf(user));
    }

    [Fact]
    public async Task Post_WhenManyRetriesOfOneKeyRace_ActsExactlyOnce()
    {
        // 40 concurrent sends of one key: one runs, the others get 409 in progress or the replay.
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 100);
        var http = server.Client(owner);
        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => http.SendAsync(Post($"/api/purchases/{pack}/use", null, "race"))));

        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict }));
        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.OK && !Replayed(r)));
        Assert.Equal(1, await UsedAsync(server, pack));
    }
}
