using System.Text.Json;
using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Lockstep.Tests.Platform.Database;

/// <summary>
/// A real Citus cluster (a coordinator and two workers, each an embedded cluster of its own) migrated by
/// the runner three times: the first run distributes; the second, with every definition marked changed so
/// they are all applied again over distributed tables, distributes nothing; the third brings a later
/// migration's tenant table. Nothing is started when Citus is not installed.
/// </summary>
public sealed class CitusClusterFixture : IAsyncLifetime
{
    /// <summary>A tenant table a migration after this build's adds.</summary>
    public static readonly Migration Later = new("9999_crm_client_notes.sql", """
        create table crm.client_notes (
          workspace_id uuid not null references platform.workspaces (id) on delete cascade,
          id uuid not null default gen_random_uuid(),
          body text not null,
          primary key (workspace_id, id));
        """);

    private readonly CitusNodes _nodes = new();

    /// <summary>The coordinator's connection string, as the superuser (for a server over the cluster).</summary>
    public string ConnectionString { get; private set; } = null!;

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public NpgsqlDataSource ServingDataSource { get; private set; } = null!;

    public SchemaChanges First { get; private set; } = null!;

    public SchemaChanges Second { get; private set; } = null!;

    public SchemaChanges Third { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (CitusInstallation.SkipReason is not null)
        {
            return;
        }
        await _nodes.StartAsync("lockstep", new Dictionary<string, string>
        {
            ["max_connections"] = "200",
            ["fsync"] = "off",
            ["synchronous_commit"] = "off",
            // Four shards per worker, as in the Citus pass: several on each node, a quarter of the DDL of Citus's 32.
            ["citus.shard_count"] = "8",
        });
        var coordinator = _nodes.Coordinator;
        ConnectionString = coordinator.ConnectionString;
        DataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(coordinator.ConnectionString) { MaxPoolSize = 100 }.ConnectionString);
        var runner = MigrationRunner.BuiltIn(DataSource);
        First = await runner.ApplyAsync();
        await using (var changed = DataSource.CreateCommand("update platform.schema_definitions set checksum = 'changed'"))
        {
            await changed.ExecuteNonQueryAsync();
        }
        Second = await runner.ApplyAsync();
        Third = await new MigrationRunner(DataSource, [.. Migration.BuiltIn, Later], Definition.BuiltIn).ApplyAsync();
        // Set up as the server's serving pool is on Citus, so calls as a user are sent in the routed shape.
        ServingDataSource = NpgsqlDataSource.Create(DatabaseHost.RoutingConnectionString(DatabaseHost.ServingConnectionString(
            new NpgsqlConnectionStringBuilder(coordinator.ConnectionString) { MaxPoolSize = 100 }.ConnectionString, new ConfigurationBuilder().Build())));
    }

    public async Task DisposeAsync()
    {
        if (ServingDataSource is not null)
        {
            await ServingDataSource.DisposeAsync();
        }
        if (DataSource is not null)
        {
            await DataSource.DisposeAsync();
        }
        await _nodes.DisposeAsync();
    }
}

public sealed class CitusDistributionTests(CitusClusterFixture cluster) : IClassFixture<CitusClusterFixture>
{
    private static readonly string[] Globals = ["platform.idempotency_keys", "platform.schema_definitions", "platform.schema_migrations"];

    [CitusFact]
    public async Task ApplyAsync_OnCitus_DistributesTenantTablesByWorkspaceColocatedWithWorkspacesAndKeepsGlobalsOnTheCoordinator()
    {
        var tables = new Dictionary<string, (string Method, string? Key, string Replication, bool Colocated)>();
        await using (var command = cluster.DataSource.CreateCommand("""
            select c.oid::regclass::text, d.partmethod::text, column_to_column_name(d.logicalrelid, d.partkey), d.repmodel::text,
                   d.colocationid = (select w.colocationid from pg_dist_partition w where w.logicalrelid = 'platform.workspaces'::regclass)
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            left join pg_dist_partition d on d.logicalrelid = c.oid
            where n.nspname in ('platform', 'crm', 'leads', 'sessions', 'gifts') and c.relkind = 'r'
            """))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables[reader.GetString(0)] = (reader.IsDBNull(1) ? "none" : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                    reader.IsDBNull(3) ? "none" : reader.GetString(3), !reader.IsDBNull(4) && reader.GetBoolean(4));
            }
        }

        Assert.Equal(("h", "id", "s", true), tables["platform.workspaces"]);
        var tenant = tables.Keys.Except(Globals).Except(["platform.workspaces", "crm.client_notes"]).ToList();
        Assert.Equal(17, tenant.Count);
        Assert.All(tenant, table => Assert.Equal((table, "h", "workspace_id", true), (table, tables[table].Method, tables[table].Key, tables[table].Colocated)));
        Assert.All(Globals, table => Assert.Equal((table, "n", "s"), (table, tables[table].Method, tables[table].Replication)));
        Assert.Equal(tables.Count - 1, cluster.First.Distributed.Count);
        Assert.StartsWith("platform.workspaces:", cluster.First.Distributed[0]);
    }

    [CitusFact]
    public void ApplyAsync_OnCitusWhenRunAgainWithEveryDefinitionChanged_ReappliesThemAllAndDistributesNothing()
    {
        Assert.Empty(cluster.Second.Migrations);
        Assert.Equal(Definition.BuiltIn.Count, cluster.Second.Definitions.Count);
        Assert.Empty(cluster.Second.Distributed);
    }

    [CitusFact]
    public async Task ApplyAsync_OnCitusWhenALaterMigrationAddsATenantTable_DistributesItColocatedAtThatRun()
    {
        Assert.Equal([CitusClusterFixture.Later.Name], cluster.Third.Migrations);
        Assert.Equal(["crm.client_notes: distributed by workspace_id, colocated with platform.workspaces"], cluster.Third.Distributed);
        await using var colocated = cluster.DataSource.CreateCommand("""
            select d.colocationid = w.colocationid
            from pg_dist_partition d, pg_dist_partition w
            where d.logicalrelid = 'crm.client_notes'::regclass and w.logicalrelid = 'platform.workspaces'::regclass
            """);
        Assert.True((bool)(await colocated.ExecuteScalarAsync())!);
    }

    [CitusFact]
    public async Task ListWorkspaces_OnCitus_ReturnsTheWorkspaceJustCreated()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);

        var list = await CallAsync(owner, "select public.list_workspaces()");

        var mine = Assert.Single(list.EnumerateArray());
        Assert.Equal(workspace, mine.GetProperty("workspace_id").GetGuid());
    }

    [CitusFact]
    public async Task CreateClientWithContact_OnCitusWhenThePhoneIsTaken_RefusesPhoneTaken()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        const string create = "select public.create_client_with_contact(p_workspace_id => $1, p_client_name => $2, p_contact_name => $3, p_contact_phone => $4)";

        var first = await CallAsync(owner, create, workspace, "Ana", "Ana", "+351912345678");
        var second = await CallAsync(owner, create, workspace, "Bea", "Bea", "+351912345678");

        Assert.True(first.GetProperty("success").GetBoolean(), first.ToString());
        Assert.False(second.GetProperty("success").GetBoolean());
        Assert.Equal("phone_taken", second.GetProperty("code").GetString());
    }

    [CitusTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UseSession_OnCitusWhenThirtyTwoCallersRaceOnATenSessionPack_ExactlyTenSucceed(bool withWorkspace)
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        var client = (await CallAsync(owner, "select public.create_client_with_contact(p_workspace_id => $1, p_client_name => $2, p_contact_name => $3)",
            workspace, "Ana", "Ana")).GetProperty("client_id").GetGuid();
        var pack = (await CallAsync(owner, "select public.create_purchase(p_client_id => $1, p_sessions_total => $2)", client, 10))
            .GetProperty("purchase_id").GetGuid();

        // 32 connections, opened first, released at once.
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < 32; i++)
        {
            connections.Add(await cluster.ServingDataSource.OpenConnectionAsync());
        }
        var start = new TaskCompletionSource();
        var calls = connections.Select(async connection =>
        {
            await start.Task;
            return withWorkspace
                ? await DatabaseFixture.ScalarAsUserAsync<bool>(connection, owner, "select public.use_session($1, $2)", workspace, pack)
                : await DatabaseFixture.ScalarAsUserAsync<bool>(connection, owner, "select public.use_session($1)", pack);
        }).ToList();
        start.SetResult();
        var results = await Task.WhenAll(calls);
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }

        Assert.Equal(10, results.Count(used => used));
        await using var used = cluster.DataSource.CreateCommand("select sessions_used from sessions.purchases where id = $1");
        used.Parameters.Add(new() { Value = pack });
        Assert.Equal(10, (int)(await used.ExecuteScalarAsync())!);
    }

    [CitusFact]
    public async Task KeyedRequest_OnCitus_BeginsCallsAndCompletesInOneTransaction()
    {
        var owner = Guid.NewGuid();
        var workspace = await CreateWorkspaceAsync(owner);
        var key = Guid.NewGuid().ToString("N");

        // As Idempotency does it: begin, the call, complete, on one connection in one transaction.
        await using (var connection = await cluster.ServingDataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var begun = await DatabaseFixture.ScalarAsUserAsync<string>(transaction, owner, "select platform.idempotency_begin($1, $2, $3)::text", "test", key, "hash");
            Assert.Equal("new", JsonDocument.Parse(begun).RootElement.GetProperty("state").GetString());
            var created = await DatabaseFixture.ScalarAsUserAsync<string>(transaction, owner,
                "select public.create_client_with_contact(p_workspace_id => $1, p_client_name => $2, p_contact_name => $3)", workspace, "Ana", "Ana");
            await DatabaseFixture.ScalarAsUserAsync<bool>(transaction, owner,
                "select platform.idempotency_complete($1, $2, $3, $4, $5, null, null, $6) is null", "test", key, "hash", 200, created, TimeSpan.FromHours(1));
            await transaction.CommitAsync();
        }

        var replay = await CallAsync(owner, "select platform.idempotency_begin($1, $2, $3)", "test", key, "hash");
        Assert.Equal("replay", replay.GetProperty("state").GetString());
        var clientId = JsonDocument.Parse(replay.GetProperty("body").GetString()!).RootElement.GetProperty("client_id").GetGuid();
        await using var stored = cluster.DataSource.CreateCommand("select count(*) from crm.clients where workspace_id = $1 and id = $2");
        stored.Parameters.Add(new() { Value = workspace });
        stored.Parameters.Add(new() { Value = clientId });
        Assert.Equal(1L, (long)(await stored.ExecuteScalarAsync())!);
    }

    private async Task<Guid> CreateWorkspaceAsync(Guid owner) =>
        (await CallAsync(owner, "select public.create_workspace($1)", "Studio")).GetProperty("workspace_id").GetGuid();

    private async Task<JsonElement> CallAsync(Guid user, string sql, params object?[] args)
    {
        await using var connection = await cluster.ServingDataSource.OpenConnectionAsync();
        return JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(connection, user, sql.EndsWith("::text", StringComparison.Ordinal) ? sql : sql + "::text", args))
            .RootElement.Clone();
    }
}

public sealed class CitusDistributionWithoutCitusTests
{
    [Fact]
    public async Task ApplyAsync_WithoutCitus_DistributesNothingAndChangesNothing()
    {
        await using var dataSource = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync());

        var changes = await MigrationRunner.BuiltIn(dataSource).ApplyAsync();

        Assert.Empty(changes.Migrations);
        Assert.Empty(changes.Definitions);
        Assert.Empty(changes.Distributed);
        await using var citus = dataSource.CreateCommand("select count(*) from pg_extension where extname = 'citus'");
        Assert.Equal(0L, (long)(await citus.ExecuteScalarAsync())!);
    }
}
