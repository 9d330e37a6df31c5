using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace Lockstep.Tests.Platform.Database;

/// <summary>
/// The Citus cluster of <see cref="CitusClusterFixture"/> with a Lockstep server in front of it, so calls go
/// the way the product sends them. The server's owner is a superuser login made here (the fixture keeps its
/// own password to itself), with node credentials as an operator would store them (the runner's DDL reaches the
/// workers); the serving role logs in to the workers with the credentials the migration runner stored. The worker nodes count calls of PL/pgSQL functions (<c>track_functions = pl</c>), which is how a
/// test sees where a call ran.
/// </summary>
public sealed class CitusRoutingFixture : IAsyncLifetime
{
    public const string OwnerPassword = "routing-owner-password";

    public CitusClusterFixture Cluster { get; } = new();

    public LockstepFactory Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Cluster.InitializeAsync();
        if (CitusInstallation.SkipReason is not null)
        {
            return;
        }
        await using (var setup = Cluster.DataSource.CreateCommand($"""
            create role routing_owner login superuser password '{OwnerPassword}';
            insert into pg_dist_authinfo (nodeid, rolename, authinfo) values (0, 'routing_owner', 'password={OwnerPassword}');
            delete from platform.schema_migrations where name = '{CitusClusterFixture.Later.Name}'
            """))
        {
            // The fixture's last run applied a migration this build does not have: the server would refuse to start.
            await setup.ExecuteNonQueryAsync();
        }
        var owner = new NpgsqlConnectionStringBuilder(Cluster.DataSource.ConnectionString) { Username = "routing_owner", Password = OwnerPassword };
        Server = new LockstepFactory(owner.ConnectionString);
        _ = Server.Server;
    }

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
        await Cluster.DisposeAsync();
    }
}

public sealed class CitusRoutingTests(CitusRoutingFixture routing) : IClassFixture<CitusRoutingFixture>
{
    [CitusFact]
    public async Task ApplyAsync_OnCitus_DelegatesEveryPublicFunctionTakingTheWorkspaceFirstAndKeepsItThroughReapplying()
    {
        await using var command = routing.Cluster.DataSource.CreateCommand("""
            select p.oid::regprocedure::text,
                   d.distribution_argument_index, d.force_delegation,
                   d.colocationid = (select colocationid from pg_dist_partition where logicalrelid = 'platform.workspaces'::regclass)
            from pg_proc p
            join pg_namespace n on n.oid = p.pronamespace
            left join pg_dist_object d on d.classid = 'pg_proc'::regclass and d.objid = p.oid
            where n.nspname = 'public' and p.proargnames[1] = 'p_workspace_id' and p.proargtypes[0] = 'uuid'::regtype
            """);
        var functions = new List<(string Name, int? Index, bool? Forced, bool? Colocated)>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                functions.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt32(1),
                    reader.IsDBNull(2) ? null : reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetBoolean(3)));
            }
        }

        Assert.True(functions.Count >= 15, string.Join(", ", functions.Select(f => f.Name)));
        Assert.All(functions, f => Assert.Equal((f.Name, 0, true, true), (f.Name, f.Index, f.Forced, f.Colocated)));
        Assert.Equal(functions.Select(f => f.Name).Order(StringComparer.Ordinal),
            routing.Cluster.First.Routing.Where(line => line.Contains("delegated", StringComparison.Ordinal))
                .Select(line => line[..line.IndexOf(": ", StringComparison.Ordinal)]).Order(StringComparer.Ordinal));
        // The second run applied every definition again (create or replace): nothing to distribute again.
        Assert.Empty(routing.Cluster.Second.Routing);
        Assert.Contains("lockstep_api: may log in to the workers, its password in pg_dist_authinfo", routing.Cluster.First.Routing);
    }

    [CitusFact]
    public async Task Call_OnCitusByAMemberThroughTheServer_Succeeds()
    {
        var owner = Guid.NewGuid();
        var workspace = await WorkspaceAsync(owner);

        var answer = await routing.Server.Client(owner).GetAsync($"/api/workspaces/{workspace}/members");

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var members = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("members");
        Assert.Equal(owner, Assert.Single(members.EnumerateArray()).GetProperty("user_id").GetGuid());
    }

    [CitusFact]
    public async Task Call_OnCitusByANonMemberThroughTheServer_IsRefused()
    {
        var workspace = await WorkspaceAsync(Guid.NewGuid());

        var answer = await routing.Server.Client(Guid.NewGuid()).GetAsync($"/api/workspaces/{workspace}/members");

        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Equal("workspace_not_found", (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [CitusFact]
    public async Task Rpc_OnCitusWithTheWorkspaceId_AnswersTheFunctionsValue()
    {
        var owner = Guid.NewGuid();
        var workspace = await WorkspaceAsync(owner);

        var answer = await routing.Server.Client(owner).PostAsync("/rest/v1/rpc/list_members",
            Http.Json($$"""{"p_workspace_id": "{{workspace}}", "p_limit": 5}"""));

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var body = await answer.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(owner, Assert.Single(body.GetProperty("members").EnumerateArray()).GetProperty("user_id").GetGuid());
    }

    [CitusFact]
    public async Task KeyedRequest_OnCitus_CallsTheWorkspaceFunctionAndReplaysItsAnswer()
    {
        var owner = Guid.NewGuid();
        var workspace = await WorkspaceAsync(owner);
        var member = Guid.NewGuid();
        var key = Guid.NewGuid().ToString();
        HttpRequestMessage Add() => new(HttpMethod.Post, $"/api/workspaces/{workspace}/members")
        {
            Content = Http.Json($$"""{"user_id": "{{member}}", "display_name": "Bea"}"""),
            Headers = { { "Idempotency-Key", key } },
        };
        var client = routing.Server.Client(owner);

        var first = await client.SendAsync(Add());
        var replay = await client.SendAsync(Add());

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await replay.Content.ReadAsStringAsync());
        await using var count = routing.Cluster.DataSource.CreateCommand("select count(*) from platform.members where workspace_id = $1 and user_id = $2");
        count.Parameters.Add(new() { Value = workspace });
        count.Parameters.Add(new() { Value = member });
        Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);
    }

    [CitusFact]
    public async Task Call_OnCitusWhenAClaimHoldsQuotes_SetsTheClaimsIntactAndTheCallRuns()
    {
        var owner = Guid.NewGuid();
        var workspace = await WorkspaceAsync(owner);
        // Written out: a serializer would escape the quotes (\u0027), and a token's payload need not.
        var claims = $$"""{"sub":"{{owner}}","role":"authenticated","name":"O'Brien'; reset role; select '\\'' --"}""";
        var token = new VerifiedToken(owner, "authenticated", claims, DateTimeOffset.UtcNow.AddHours(1));
        var caller = routing.Server.Services.GetRequiredService<FunctionCaller>();

        var set = await caller.CallAsync(token, "select current_setting('request.jwt.claims')", [], CancellationToken.None);
        var members = await caller.CallAsync(token, "select public.list_members(p_workspace_id => $1)", [workspace], CancellationToken.None);

        Assert.Equal(claims, set);
        Assert.True(JsonDocument.Parse(members!).RootElement.GetProperty("success").GetBoolean(), members);
    }

    [CitusFact]
    public async Task RoutedShape_OnCitusAsTheServingRole_IsPushedDownToAWorkerWithTheClaims()
    {
        var owner = Guid.NewGuid();
        var workspace = await WorkspaceAsync(owner);
        var caller = routing.Server.Services.GetRequiredService<FunctionCaller>();
        var propagation = await caller.CallAsync(null, "select current_setting('citus.propagate_set_commands')", [], CancellationToken.None);
        var serving = new NpgsqlConnectionStringBuilder(routing.Cluster.DataSource.ConnectionString)
        {
            Username = "routing_owner", Password = CitusRoutingFixture.OwnerPassword, Pooling = false,
        };
        var connectionString = DatabaseHost.RoutingConnectionString(DatabaseHost.ServingConnectionString(
            serving.ConnectionString, new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build()));
        var notices = new List<string>();
        await using var connection = new NpgsqlConnection(connectionString);
        connection.Notice += (_, e) => notices.Add(e.Notice.MessageText);
        await connection.OpenAsync();
        await using (var debug = new NpgsqlCommand("set client_min_messages = debug1", connection))
        {
            await debug.ExecuteNonQueryAsync();
        }

        // What FunctionCaller sends on Citus, one batch.
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new("begin"),
                new($$"""set local request.jwt.claims = '{"sub":"{{owner}}","role":"authenticated"}'"""),
                new("select public.list_members(p_workspace_id => $1, p_limit => $2, p_before => $3)")
                {
                    Parameters = { new() { Value = workspace }, new() { Value = 50 }, new() { Value = DBNull.Value } },
                },
                new("commit"),
            },
        };
        string members;
        await using (var reader = await batch.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            members = reader.GetFieldValue<string>(0);
        }

        Assert.Equal("local", propagation);
        Assert.Contains("pushing down the function call", notices);
        Assert.True(JsonDocument.Parse(members).RootElement.GetProperty("success").GetBoolean(), members);
    }

    [CitusFact]
    public async Task Write_OnCitusThroughTheServersWorkspaceRoute_RunsWholeOnTheWorkerAndATakenPhoneIsPhoneTaken()
    {
        var owner = Guid.NewGuid();
        var workspace = await WorkspaceAsync(owner);
        var client = routing.Server.Client(owner);
        var ana = new { client_name = "Ana Lee", contact_name = "Ana Lee", contact_phone = "+1 (555) 010-0123" };

        var created = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/clients", ana);
        var again = await client.PostAsJsonAsync($"/api/workspaces/{workspace}/clients", ana);

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var clientId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_id").GetGuid();
        // The audit trigger names the function on the call stack where the insert ran: a call delegated whole
        // to the worker has it there; run on the coordinator, the shard's trigger sees none ('sql').
        await using var operation = routing.Cluster.DataSource.CreateCommand(
            "select operation from platform.audit_log where workspace_id = $1 and entity_table = 'crm.clients' and entity_id = $2 and action = 'insert'");
        operation.Parameters.Add(new() { Value = workspace });
        operation.Parameters.Add(new() { Value = clientId.ToString() });
        Assert.Equal("public.create_client_with_contact", await operation.ExecuteScalarAsync());
        // Raised on the worker's shard, the violation names the shard's copy of the constraint.
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("phone_taken", (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    private async Task<Guid> WorkspaceAsync(Guid owner)
    {
        var created = await routing.Server.Client(owner).PostAsJsonAsync("/api/workspaces", new { name = "Routing" });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid();
    }
}
