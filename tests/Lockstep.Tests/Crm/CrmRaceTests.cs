using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>The CRM invariants under many real concurrent connections, checked in SQL afterwards.</summary>
[RunsOnCitus]
public sealed class CrmRaceTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task CreateClientWithContact_When50CallersUseOnePhoneAtOnce_ExactlyOneClientExists()
    {
        // 50 concurrent connections, one phone in five spellings.
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        string[] spellings = ["+15550100199", "+1 555 010 0199", "001-555-010-0199", "+1 (555) 010-0199", "+1.555.010.0199"];

        var results = await db.RunAtOnceAsync(Enumerable.Range(0, 50).Select(i => (user,
            "select public.create_client_with_contact($1, $2, 'Ann', $3)",
            new object?[] { workspace, $"Client {i}", spellings[i % spellings.Length] })).ToList());

        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace));
        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace));
        var winner = Assert.Single(results, r => r.Succeeded());
        Assert.All(results.Where(r => !r.Succeeded()), r =>
        {
            Assert.Equal("phone_taken", r.Code());
            Assert.Equal(winner.Id("contact_id"), r.Id("contact_id"));
        });
    }

    [Fact]
    public async Task UpsertContactByPhone_When50CallersUseOneNewPhoneAtOnce_OneContactAnd50IdenticalIds()
    {
        // 50 concurrent connections, as 50 retried webhook deliveries would be.
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);

        var results = await db.RunAtOnceAsync(Enumerable.Range(0, 50).Select(i => (user,
            "select public.upsert_contact_by_phone($1, $2, 'Ann')",
            new object?[] { workspace, i % 2 == 0 ? "+447700900123" : "0044 7700 900 123" })).ToList());

        Assert.All(results, r => Assert.True(r.Succeeded()));
        Assert.Single(results.Select(r => r.Id("contact_id")).Distinct());
        Assert.Single(results, r => r.GetProperty("created").GetBoolean());
        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task SetPrimaryContact_WhenManyCallersSwapPrimariesAtOnce_ExactlyOnePrimaryRemains()
    {
        // 10 clients × 5 contacts, each contact promoted by its own connection: 50 concurrent calls.
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var calls = new List<(Guid, string, object?[])>();
        var clients = new List<Guid>();
        for (var c = 0; c < 10; c++)
        {
            var client = await db.CreateClientAsync(user, workspace, $"Client {c}", "First", $"+1555010{c:D2}00");
            clients.Add(client.Id("client_id"));
            calls.Add((user, "select public.set_primary_contact($1, $2)", [client.Id("client_id"), client.Id("contact_id")]));
            for (var k = 1; k < 5; k++)
            {
                var contact = await db.CallAsync(user, "select public.add_contact($1, $2, 'Other', $3)",
                    workspace, client.Id("client_id"), $"+1555010{c:D2}{k:D2}");
                calls.Add((user, "select public.set_primary_contact($1, $2, $3)", [workspace, client.Id("client_id"), contact.Id("contact_id")]));
            }
        }

        var results = await db.RunAtOnceAsync(calls);

        Assert.All(results, r => Assert.True(r.Succeeded(), r.ToString()));
        foreach (var client in clients)
        {
            Assert.Equal(1L, await db.ScalarAsync<long>(
                "select count(*) from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client));
        }
    }

    [Fact]
    public async Task AddContact_When20PrimariesAreAddedToOneClientAtOnce_ExactlyOnePrimaryRemains()
    {
        // 20 concurrent connections, each adding a new primary contact to one client.
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");

        var results = await db.RunAtOnceAsync(Enumerable.Range(0, 20).Select(i => (user,
            "select public.add_contact($1, $2, 'Other', $3, null, true)",
            new object?[] { workspace, client.Id("client_id"), $"+155501002{i:D2}" })).ToList());

        Assert.All(results, r => Assert.True(r.Succeeded(), r.ToString()));
        Assert.Equal(1L, await db.ScalarAsync<long>(
            "select count(*) from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client.Id("client_id")));
    }
}
