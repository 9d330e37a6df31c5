using Lockstep.Crm;
using Lockstep.Platform.Cli;
using Lockstep.Tests.Platform.Cli;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary><c>lockstep contacts duplicates</c> over crm.contacts and over a table imported from elsewhere.</summary>
[Collection(nameof(ProcessWideState))]
[RunsOnCitus]
public sealed class DuplicatePhonesCommandTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private async Task<(Guid One, Guid Two)> ImportedTableAsync()
    {
        var one = await db.WorkspaceAsync(Guid.NewGuid());
        var two = await db.WorkspaceAsync(Guid.NewGuid());
        await db.ScalarAsync<object>("create table if not exists public.legacy_contacts (workspace_id uuid, phone text)");
        await db.ScalarAsync<object>("""
            insert into public.legacy_contacts values
              ($1, '+1 (555) 010-0199'), ($1, '+15550100199'), ($1, '001-555-010-0199'),
              ($1, '+44 20 7946 0000'),
              ($2, '+15550100199'),
              ($2, '(555) 010-0100'), ($2, '555.010.0100'),
              ($2, null), ($2, null)
            """, one, two);
        return (one, two);
    }

    [Fact]
    public async Task Find_WhenAnImportedTableHasSpellingsOfOnePhone_ListsThemPerWorkspace()
    {
        var (one, two) = await ImportedTableAsync();

        var found = (await DuplicatePhonesCommand.FindAsync(db.DataSource, "public.legacy_contacts", "phone", "workspace_id", default))
            .Where(c => c.Workspace == one.ToString() || c.Workspace == two.ToString()).ToList();

        Assert.Equal(2, found.Count);
        var e164 = Assert.Single(found, c => c.Normalised);
        Assert.Equal((one.ToString(), "+15550100199", 3L), (e164.Workspace, e164.Phone, e164.Rows));
        Assert.Equal("+1 (555) 010-0199 | +15550100199 | 001-555-010-0199", e164.Spellings);
        // No country code: not E.164, still the same digits.
        var digits = Assert.Single(found, c => !c.Normalised);
        Assert.Equal((two.ToString(), "5550100100", 2L), (digits.Workspace, digits.Phone, digits.Rows));
    }

    [Fact]
    public async Task Find_WhenSpellingsDifferByATrunkZeroOrAUnicodeSpace_ListsThemAsOnePhone()
    {
        var workspace = await db.WorkspaceAsync(Guid.NewGuid());
        await db.ScalarAsync<object>("create table if not exists public.legacy_contacts (workspace_id uuid, phone text)");
        await db.ScalarAsync<object>(
            "insert into public.legacy_contacts values ($1, '+44 (0) 20 7946 0000'), ($1, '+44 20 7946 0000'), ($1, $2)",
            workspace, "+44\u00A020\u00A07946\u00A00000");

        var found = (await DuplicatePhonesCommand.FindAsync(db.DataSource, "public.legacy_contacts", "phone", "workspace_id", default))
            .Where(c => c.Workspace == workspace.ToString()).ToList();

        var one = Assert.Single(found);
        Assert.Equal(("+442079460000", true, 3L), (one.Phone, one.Normalised, one.Rows));
    }

    [Fact]
    public async Task Command_OnAnImportedTable_PrintsAReadableTable()
    {
        var (one, _) = await ImportedTableAsync();
        var previousConnection = Environment.GetEnvironmentVariable("ConnectionStrings__Lockstep");
        var previousOut = Console.Out;
        using var output = new StringWriter();
        Environment.SetEnvironmentVariable("ConnectionStrings__Lockstep", db.ConnectionString);
        Console.SetOut(output);
        int exitCode;
        try
        {
            exitCode = await LockstepCli.RunAsync(["contacts", "duplicates", "--table", "public.legacy_contacts"],
                _ => throw new InvalidOperationException("must not start a server"), CrmModule.ContactsCommand());
        }
        finally
        {
            Console.SetOut(previousOut);
            Environment.SetEnvironmentVariable("ConnectionStrings__Lockstep", previousConnection);
        }

        Assert.Equal(0, exitCode);
        var text = output.ToString();
        Assert.Contains("workspace", text, StringComparison.Ordinal);
        Assert.Contains($"{one}  +15550100199", text, StringComparison.Ordinal);
        Assert.Contains("5550100100 (digits; no valid E.164 form)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Format_WhenNothingCollides_SaysSo() =>
        Assert.Equal("No phones collide after normalisation.\n", DuplicatePhonesCommand.Format([]));

    [Fact]
    public async Task Find_OnCrmContacts_ReadsTheRawPhones()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        await db.CreateClientAsync(user, workspace, "Acme", "Ann", "+15550100199");

        var found = await DuplicatePhonesCommand.FindAsync(db.DataSource, "crm.contacts", "phone", "workspace_id", default);

        // unique_phone_workspace already holds here: nothing can collide.
        Assert.DoesNotContain(found, c => c.Workspace == workspace.ToString());
    }
}
