using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>create_client_with_contact and add_contact: one phone per workspace, both rows or neither.</summary>
[RunsOnCitus]
public sealed class ClientWithContactTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private Task<long> ClientsAsync(Guid workspace) =>
        db.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace);

    private Task<long> ContactsAsync(Guid workspace) =>
        db.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace);

    [Fact]
    public async Task CreateClientWithContact_WhenValid_CreatesTheClientAndItsPrimaryContact()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);

        var result = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+1 (555) 010-0199", "ann@acme.test");

        Assert.True(result.Succeeded());
        Assert.True(await db.ScalarAsync<bool>(
            "select is_primary and client_id = $2 and phone_e164 = '+15550100199' from crm.contacts where workspace_id = $1 and id = $3",
            workspace, result.Id("client_id"), result.Id("contact_id")));
    }

    [Theory]
    [InlineData("+1 555 010 0199")]
    [InlineData("001-555-010-0199")]
    [InlineData("+15550100199")]
    [InlineData("+1 (555) 010-0199")]
    public async Task CreateClientWithContact_WhenThePhoneIsTakenInAnotherSpelling_RefusesWithTheExistingContact(string spelling)
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var first = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+1 (555) 010-0199");

        var second = await db.CreateClientAsync(user, workspace, "Other", "Bob", spelling);

        Assert.Equal("phone_taken", second.Code());
        Assert.Equal(first.Id("contact_id"), second.Id("contact_id"));
        // The failing contact took its client with it.
        Assert.Equal(1L, await ClientsAsync(workspace));
        Assert.Equal(1L, await ContactsAsync(workspace));
    }

    [Fact]
    public async Task CreateClientWithContact_WhenTheSamePhoneIsInAnotherWorkspace_Accepts()
    {
        var user = Guid.NewGuid();
        var one = await db.WorkspaceAsync(user);
        var two = await db.WorkspaceAsync(user);

        Assert.True((await db.CreateClientAsync(user, one, "Acme", "Ann", "+15550100199")).Succeeded());
        Assert.True((await db.CreateClientAsync(user, two, "Acme", "Ann", "+1 555 010 0199")).Succeeded());
    }

    [Fact]
    public async Task CreateClientWithContact_WhenPhonesDiffer_AcceptsBoth()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);

        Assert.True((await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199")).Succeeded());
        Assert.True((await db.CreateClientAsync(user, workspace, "Beta", "Bob", "+15550100198")).Succeeded());
        Assert.Equal(2L, await ClientsAsync(workspace));
    }

    [Theory]
    [InlineData("", "Ann", null, null, "client_name_required")]
    [InlineData("  ", "Ann", null, null, "client_name_required")]
    [InlineData("Acme", "", null, null, "contact_required")]
    [InlineData("Acme", null, null, null, "contact_required")]
    [InlineData("Acme", "Ann", "12345", null, "invalid_phone")]
    [InlineData("Acme", "Ann", "+15550100199", "not-an-email", "invalid_email")]
    public async Task CreateClientWithContact_WhenAValueIsBad_RefusesAndWritesNothing(
        string clientName, string? contactName, string? phone, string? email, string code)
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);

        var result = await db.CreateClientAsync(user, workspace, clientName, contactName!, phone, email);

        Assert.Equal(code, result.Code());
        Assert.Equal(0L, await ClientsAsync(workspace));
        Assert.Equal(0L, await ContactsAsync(workspace));
    }

    [Fact]
    public async Task CreateClientWithContact_WhenTheContactInsertFailsInTheDatabase_LeavesNoClient()
    {
        // Past the function's own checks: a contact name over the column's limit fails the insert itself.
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        await db.ScalarAsync<object>(
            "alter table crm.contacts add constraint test_no_zed check (name <> 'Zed') not valid");
        try
        {
            await Assert.ThrowsAsync<Npgsql.PostgresException>(() => db.CreateClientAsync(user, workspace, "Acme", "Zed", "+15550100111"));
        }
        finally
        {
            await db.ScalarAsync<object>("alter table crm.contacts drop constraint test_no_zed");
        }

        Assert.Equal(0L, await ClientsAsync(workspace));
    }

    [Fact]
    public async Task CreateClientWithContact_WhenCallerIsNotAMember_RefusesAsNotFound()
    {
        var workspace = await db.WorkspaceAsync(Guid.NewGuid());

        var result = await db.CreateClientAsync(Guid.NewGuid(), workspace, "Acme", "Ann", "+15550100199");

        Assert.Equal("workspace_not_found", result.Code());
        Assert.Equal(0L, await ClientsAsync(workspace));
    }

    [Fact]
    public async Task AddContact_AsPrimary_ReplacesTheClientsPrimary()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");

        var added = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '+15550100198', null, true)",
            workspace, client.Id("client_id"));

        Assert.True(added.Succeeded());
        Assert.Equal(added.Id("contact_id"), await db.ScalarAsync<Guid>(
            "select id from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client.Id("client_id")));
    }

    [Fact]
    public async Task AddContact_WhenThePhoneIsTaken_RefusesWithTheExistingContact()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");

        var added = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '00 1 555 010 0199')",
            workspace, client.Id("client_id"));

        Assert.Equal("phone_taken", added.Code());
        Assert.Equal(client.Id("contact_id"), added.Id("contact_id"));
    }

    [Fact]
    public async Task AddContact_WhenTheClientIsInAnotherWorkspace_RefusesAsNotFound()
    {
        var user = Guid.NewGuid();
        var mine = await db.WorkspaceAsync(user);
        var other = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, other, "Acme", "Ann", "+15550100199");

        var added = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '+15550100198')",
            mine, client.Id("client_id"));

        Assert.Equal("client_not_found", added.Code());
    }

    [Fact]
    public async Task SetPrimaryContact_WhenTheContactBelongsToTheClient_MovesThePrimary()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");
        var bob = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '+15550100198')", workspace, client.Id("client_id"));

        var result = await db.CallAsync(user, "select public.set_primary_contact($1, $2)", client.Id("client_id"), bob.Id("contact_id"));

        Assert.True(result.Succeeded());
        Assert.Equal(bob.Id("contact_id"), await db.ScalarAsync<Guid>(
            "select id from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client.Id("client_id")));
    }

    [Fact]
    public async Task SetPrimaryContact_WhenTheContactIsAnotherClients_RefusesAsNotFound()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var acme = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");
        var beta = await db.CreateClientAsync(user, workspace, "Beta", "Bob", "+15550100198");

        var result = await db.CallAsync(user, "select public.set_primary_contact($1, $2)", acme.Id("client_id"), beta.Id("contact_id"));

        Assert.Equal("contact_not_found", result.Code());
    }

    [Fact]
    public async Task SetPrimaryContact_WhenCallerIsNotAMember_RefusesAsNotFound()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var acme = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");

        var result = await db.CallAsync(Guid.NewGuid(), "select public.set_primary_contact($1, $2)", acme.Id("client_id"), acme.Id("contact_id"));

        Assert.Equal("client_not_found", result.Code());
    }

    [Fact]
    public async Task SetPrimaryContact_WhenNamedWithItsWorkspace_MovesThePrimaryAsTheTwoArgumentForm()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");
        var bob = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '+15550100198')", workspace, client.Id("client_id"));

        var routed = await db.CallAsync(user, "select public.set_primary_contact($1, $2, $3)", workspace, client.Id("client_id"), bob.Id("contact_id"));
        var idOnly = await db.CallAsync(user, "select public.set_primary_contact($1, $2)", client.Id("client_id"), bob.Id("contact_id"));

        Assert.True(routed.Succeeded());
        Assert.Equal(routed.ToString(), idOnly.ToString());
        Assert.Equal(bob.Id("contact_id"), await db.ScalarAsync<Guid>(
            "select id from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client.Id("client_id")));
    }

    [Fact]
    public async Task SetPrimaryContact_WhenTheClientIsInAnotherWorkspaceOfTheCaller_RefusesAsNotFoundAndChangesNothing()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var other = await db.WorkspaceAsync(user);
        var client = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");
        var bob = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob', '+15550100198')", workspace, client.Id("client_id"));

        var foreign = await db.CallAsync(user, "select public.set_primary_contact($1, $2, $3)", other, client.Id("client_id"), bob.Id("contact_id"));
        var missing = await db.CallAsync(user, "select public.set_primary_contact($1, $2, $3)", other, Guid.NewGuid(), bob.Id("contact_id"));

        Assert.Equal("client_not_found", foreign.Code());
        Assert.Equal(missing.ToString(), foreign.ToString());
        Assert.Equal(client.Id("contact_id"), await db.ScalarAsync<Guid>(
            "select id from crm.contacts where workspace_id = $1 and client_id = $2 and is_primary", workspace, client.Id("client_id")));
    }

    [Fact]
    public async Task DirectInsert_WhenASecondPrimaryIsWritten_TheIndexRefusesIt()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var acme = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");

        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => db.ScalarAsync<object>(
            "insert into crm.contacts (workspace_id, client_id, name, is_primary) values ($1, $2, 'Bob', true)", workspace, acme.Id("client_id")));

        Assert.Equal(Npgsql.PostgresErrorCodes.UniqueViolation, e.SqlState);
        Assert.Equal("contacts_one_primary_per_client", await db.ViolatedConstraintAsync(e));
    }

    [Fact]
    public async Task ListClients_WhenSearchingByPhoneDigitsInAnySpelling_FindsTheClient()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+1 (555) 010-0199");
        await db.CreateClientAsync(user, workspace, "Beta", "Bob", "+44 20 7946 0000");

        var byPhone = await db.CallAsync(user, "select public.list_clients($1, '555.010')", workspace);
        var byPrefix = await db.CallAsync(user, "select public.list_clients($1, '0044 20')", workspace);
        var byName = await db.CallAsync(user, "select public.list_clients($1, 'bet')", workspace);
        var paged = await db.CallAsync(user, "select public.list_clients($1, null, 1, 1)", workspace);

        Assert.Equal("Acme", Assert.Single(byPhone.GetProperty("clients").EnumerateArray()).GetProperty("name").GetString());
        Assert.Equal("Beta", Assert.Single(byPrefix.GetProperty("clients").EnumerateArray()).GetProperty("name").GetString());
        Assert.Equal("Beta", Assert.Single(byName.GetProperty("clients").EnumerateArray()).GetProperty("name").GetString());
        Assert.Equal(2, paged.GetProperty("total").GetInt32());
        Assert.Equal("Beta", Assert.Single(paged.GetProperty("clients").EnumerateArray()).GetProperty("name").GetString());
    }
}
