using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>get_client and list_clients show a contact with exactly the keys and values of its row.</summary>
[RunsOnCitus]
public sealed class ContactJsonTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    // A contact as the API has always shown it: these columns under these keys.
    private Task<string> RowAsShownAsync(Guid workspace, Guid contact) =>
        db.ScalarAsync<string>("""
            select jsonb_build_object(
              'contact_id', c.id, 'client_id', c.client_id, 'name', c.name, 'phone', c.phone,
              'phone_e164', c.phone_e164, 'email', c.email, 'is_primary', c.is_primary, 'created_at', c.created_at)::text
            from crm.contacts c where c.workspace_id = $1 and c.id = $2
            """, workspace, contact);

    [Fact]
    public async Task GetClient_WhenTheClientHasContacts_ShowsEachAsItsRowHoldsIt()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var acme = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+1 (555) 010-0199", "ann@acme.test");
        // Without phone or email: the nulls are shown too.
        var bob = await db.CallAsync(user, "select public.add_contact($1, $2, 'Bob')", workspace, acme.Id("client_id"));

        var client = await db.CallAsync(user, "select public.get_client($1, $2)", workspace, acme.Id("client_id"));

        var contacts = client.GetProperty("contacts");
        Assert.Equal(2, contacts.GetArrayLength());
        Assert.Equal(await RowAsShownAsync(workspace, acme.Id("contact_id")), contacts[0].GetRawText());
        Assert.Equal(await RowAsShownAsync(workspace, bob.Id("contact_id")), contacts[1].GetRawText());
    }

    [Fact]
    public async Task ListClients_WhenAClientHasAPrimaryContact_ShowsItAsItsRowHoldsIt()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var acme = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+44 20 7946 0000");

        var list = await db.CallAsync(user, "select public.list_clients($1)", workspace);

        var primary = list.GetProperty("clients")[0].GetProperty("primary_contact");
        Assert.Equal(await RowAsShownAsync(workspace, acme.Id("contact_id")), primary.GetRawText());
    }
}
