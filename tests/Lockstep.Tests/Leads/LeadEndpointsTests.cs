using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Platform.Http;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Leads;

/// <summary>POST /leads, /leads:batch and the list reads over HTTP.</summary>
public sealed class LeadEndpointsTests(LeadsServerFixture server) : IClassFixture<LeadsServerFixture>
{
    private async Task<(Guid Workspace, Guid Owner)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        using var client = server.Client(owner);
        var created = await client.PostAsJsonAsync("/api/workspaces", new { name = "Shop" });
        return ((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid(), owner);
    }

    private async Task<(long Contacts, long Leads, long Conversations)> RowsAsync(Guid workspace) => (
        await server.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.leads where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from leads.conversations where workspace_id = $1", workspace));

    [Fact]
    public async Task PostLead_WhenValid_Returns200WithLeadAndConversation()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads",
            new { customer_phone = "+1234567890", customer_name = "John Doe", type = "order", details = "Wants an order" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.NotEqual(Guid.Empty, body.GetProperty("lead_id").GetGuid());
        Assert.NotEqual(Guid.Empty, body.GetProperty("conversation_id").GetGuid());
        Assert.Equal((1L, 1L, 1L), await RowsAsync(workspace));

        var leads = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{workspace}/leads");
        Assert.Equal("order", Assert.Single(leads.GetProperty("leads").EnumerateArray()).GetProperty("type").GetString());
        var conversations = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{workspace}/conversations");
        Assert.Equal(body.GetProperty("conversation_id").GetGuid(),
            Assert.Single(conversations.GetProperty("conversations").EnumerateArray()).GetProperty("conversation_id").GetGuid());
    }

    [Theory]
    [InlineData("""{"customer_phone":"+1234567890","customer_name":"J","type":"invalid_type"}""", "invalid_lead_type")]
    [InlineData("""{"customer_phone":"","customer_name":"J","type":"order"}""", "phone_required")]
    [InlineData("""{"customer_phone":"not a phone","customer_name":"J","type":"order"}""", "invalid_phone")]
    public async Task PostLead_WhenABusinessRuleRefuses_Returns422WithItsCodeAndWritesNothing(string json, string code)
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/leads", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Theory]
    [InlineData("{not json", "invalid_json")]
    [InlineData("""{"customer_phone":"+1234567890","type":"order"}""", "field_required")]
    [InlineData("""{"customer_phone":1234567890,"customer_name":"J","type":"order"}""", "invalid_field")]
    [InlineData("""{"customer_phone":"+1234567890","customer_name":"J","type":"order","user_id":"x"}""", "unknown_field")]
    public async Task PostLead_WhenTheBodyIsMalformed_Returns400AndWritesNothing(string json, string code)
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsync($"/api/workspaces/{workspace}/leads", Http.Json(json));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostLead_WhenTheCallerBelongsToAnotherWorkspace_Returns404AndWritesNothing()
    {
        var (workspace, _) = await WorkspaceAsync();
        var (_, outsider) = await WorkspaceAsync();
        using var client = server.Client(outsider);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads",
            new { customer_phone = "+1234567890", customer_name = "J", type = "order" });
        var batch = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads:batch",
            new { leads = new[] { new { customer_phone = "+1234567890", customer_name = "J", type = "order" } } });

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "workspace_not_found");
        await Http.AssertProblemAsync(batch, HttpStatusCode.NotFound, "workspace_not_found");
        await Http.AssertProblemAsync(await client.GetAsync($"/api/workspaces/{workspace}/leads"), HttpStatusCode.NotFound, "workspace_not_found");
        Assert.Equal((0L, 0L, 0L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostBatch_WhenOneRowIsBad_TheOthersAreCreatedAndEachRowHasItsOutcome()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads:batch", new
        {
            leads = new[]
            {
                new { customer_phone = "+1234567890", customer_name = "A", type = "order" },
                new { customer_phone = "nope", customer_name = "B", type = "order" },
                new { customer_phone = "+1234567891", customer_name = "C", type = "bogus" },
                new { customer_phone = "+1234567892", customer_name = "D", type = "support" },
            },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, body.GetProperty("created").GetInt32());
        var rows = body.GetProperty("results").EnumerateArray().ToList();
        Assert.True(rows[0].GetProperty("success").GetBoolean());
        Assert.Equal("invalid_phone", rows[1].GetProperty("code").GetString());
        Assert.Equal("invalid_lead_type", rows[2].GetProperty("code").GetString());
        Assert.True(rows[3].GetProperty("success").GetBoolean());
        Assert.Equal((2L, 2L, 2L), await RowsAsync(workspace));
    }

    private static HttpRequestMessage KeyedBatch(Guid workspace, string key, params (string Phone, string Name)[] leads)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/workspaces/{workspace}/leads:batch")
        {
            Content = JsonContent.Create(new { leads = leads.Select(l => new { customer_phone = l.Phone, customer_name = l.Name, type = "order" }) }),
        };
        request.Headers.Add(Idempotency.KeyHeader, key);
        return request;
    }

    private Task<Guid[]> LeadIdsAsync(Guid workspace) =>
        server.ScalarAsync<Guid[]>("select coalesce(array_agg(id order by id), '{}') from leads.leads where workspace_id = $1", workspace);

    private static Guid[] CreatedIds(JsonElement body) => body.GetProperty("results").EnumerateArray()
        .Where(r => r.GetProperty("success").GetBoolean()).Select(r => r.GetProperty("lead_id").GetGuid()).Order().ToArray();

    [Fact]
    public async Task PostLead_WhenTextHoldsANul_Answers400AndLeavesThePooledConnectionsWorking()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);
        var answers = new List<(string Call, HttpStatusCode Status, string Body)>();

        // Sent to the database, a NUL fails while binding; the statement's auto-preparation (after five uses on
        // a connection) then left an unread result behind, and a later call on that connection answered 500.
        for (var n = 0; n < 20; n++)
        {
            var bad = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads",
                new { customer_phone = $"+1555{n:D3}0001", customer_name = "B\u0000", type = "order" });
            answers.Add(("nul " + n, bad.StatusCode, await bad.Content.ReadAsStringAsync()));
            var good = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads",
                new { customer_phone = $"+1555{n:D3}0002", customer_name = "A", type = "order" });
            answers.Add(("good " + n, good.StatusCode, await good.Content.ReadAsStringAsync()));
        }

        var wrong = answers.Where(a => a.Status != (a.Call.StartsWith("nul", StringComparison.Ordinal) ? HttpStatusCode.BadRequest : HttpStatusCode.OK)).ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        Assert.All(answers.Where(a => a.Status == HttpStatusCode.BadRequest),
            a => Assert.Equal("invalid_input", JsonDocument.Parse(a.Body).RootElement.GetProperty("code").GetString()));
        Assert.Equal((20L, 20L, 20L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostBatchKeyed_WhenAMiddleRowRaises_AnswersEachRowsTrueOutcomeStoresExactlyThoseLeadsAndReplaysIt()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);
        var key = Guid.NewGuid().ToString();
        // PostgreSQL text cannot hold a NUL byte: the row's statement raises 22021 inside the request's transaction.
        (string, string)[] rows = [("+1234567890", "A"), ("+1234567891", "B\u0000"), ("+1234567892", "C")];

        var response = await client.SendAsync(KeyedBatch(workspace, key, rows));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var body = JsonDocument.Parse(text).RootElement;
        var results = body.GetProperty("results").EnumerateArray().ToList();
        Assert.True(results[0].GetProperty("success").GetBoolean(), text);
        Assert.False(results[1].GetProperty("success").GetBoolean(), text);
        Assert.Equal("invalid_input", results[1].GetProperty("code").GetString());
        Assert.True(results[2].GetProperty("success").GetBoolean(), text);
        Assert.Equal((2, 1), (body.GetProperty("created").GetInt32(), body.GetProperty("failed").GetInt32()));
        Assert.Equal(CreatedIds(body), await LeadIdsAsync(workspace));
        Assert.Equal((2L, 2L, 2L), await RowsAsync(workspace));

        var replay = await client.SendAsync(KeyedBatch(workspace, key, rows));

        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues(Idempotency.ReplayedHeader).Single());
        Assert.Equal(text, await replay.Content.ReadAsStringAsync());
        Assert.Equal((2L, 2L, 2L), await RowsAsync(workspace));
    }

    [Fact]
    public async Task PostBatchKeyed_WhenARowIsADeadlockVictim_RetriesThatRowAndCreatesEveryLead()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);
        (string Phone, string Name)[] rows = [("+1234567890", "A"), ("+1234567891", "B"), ("+1234567892", "C")];

        // The test holds row 1's customer lock; once row 1 waits for it, the test asks for row 0's
        // customer lock, which the batch's transaction holds: a real deadlock, detected by the batch's
        // backend (the test's own detection waits a minute), so row 1 is the victim.
        var deadlocksBefore = await DeadlocksAsync();
        await using var holder = await server.DataSource.OpenConnectionAsync();
        await using var held = await holder.BeginTransactionAsync();
        await ExecuteAsync(holder, held, "set local deadlock_timeout = '60s'");
        await ExecuteAsync(holder, held, "select leads.lock_customer($1, crm.normalize_phone($2))", workspace, rows[1].Phone);
        var batch = client.SendAsync(KeyedBatch(workspace, Guid.NewGuid().ToString(), rows));
        var firstWait = await WaitForLeadCallWaitingAsync(notStartedAt: null);
        var deadlocking = ExecuteAsync(holder, held, "select leads.lock_customer($1, crm.normalize_phone($2))", workspace, rows[0].Phone);
        // The row's retry, after the deadlock rolled back its savepoint, is a new statement of the same backend.
        var retried = await WaitForLeadCallWaitingAsync(notStartedAt: firstWait);
        await server.ScalarAsync<bool>("select pg_terminate_backend($1)", holder.ProcessID);
        // Ended by the termination (or granted, had the batch given the lock up by failing).
        await Record.ExceptionAsync(() => deadlocking);

        var response = await batch;

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.True(body.GetProperty("created").GetInt32() == 3, text);
        Assert.Equal(CreatedIds(body), await LeadIdsAsync(workspace));
        Assert.NotNull(retried);
        Assert.True(await DeadlocksAfterAsync(deadlocksBefore) > deadlocksBefore, "PostgreSQL counted no deadlock");
    }

    private Task<long> DeadlocksAsync() =>
        server.ScalarAsync<long>("select deadlocks from pg_stat_database where datname = current_database()");

    /// <summary>The deadlock count once it passes <paramref name="before"/>, or after five seconds.</summary>
    private async Task<long> DeadlocksAfterAsync(long before)
    {
        var count = await DeadlocksAsync();
        // A backend reports its counts when idle, so the victim's may come a moment after the answer.
        for (var i = 0; count <= before && i < 200; i++)
        {
            await Task.Delay(25);
            count = await DeadlocksAsync();
        }
        return count;
    }

    private static async Task ExecuteAsync(Npgsql.NpgsqlConnection connection, Npgsql.NpgsqlTransaction transaction, string sql, params object[] args)
    {
        await using var command = new Npgsql.NpgsqlCommand(sql, connection, transaction);
        foreach (var arg in args)
        {
            command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = arg });
        }
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Waits until a lead call waits for a lock in a statement other than <paramref name="notStartedAt"/>; returns its start.</summary>
    private async Task<DateTime?> WaitForLeadCallWaitingAsync(DateTime? notStartedAt)
    {
        for (var i = 0; i < 600; i++)
        {
            var started = await server.ScalarAsync<object>("""
                select max(query_start) from pg_stat_activity
                where wait_event_type = 'Lock' and query like '%create_lead_with_conversation%'
                """);
            if (started is DateTime at && at != notStartedAt)
            {
                return at;
            }
            await Task.Delay(25);
        }
        // No retry came: the assertions on the answer say what happened instead.
        return null;
    }

    [Fact]
    public async Task PostBatch_WhenEmpty_Returns400()
    {
        var (workspace, owner) = await WorkspaceAsync();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/leads:batch", new { leads = Array.Empty<object>() });

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_batch_size");
    }

    [Fact]
    public async Task ListMessages_WhenTheConversationIsInAnotherWorkspace_Returns404()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var (other, otherOwner) = await WorkspaceAsync();
        using var otherClient = server.Client(otherOwner);
        var created = await otherClient.PostAsJsonAsync($"/api/workspaces/{other}/leads",
            new { customer_phone = "+1234567890", customer_name = "J", type = "order" });
        var conversation = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversation_id").GetGuid();
        using var client = server.Client(owner);

        var response = await client.GetAsync($"/api/workspaces/{workspace}/conversations/{conversation}/messages");

        await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, "conversation_not_found");
    }
}
