using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Crm;

/// <summary>
/// The migration that changes crm.normalize_phone, on a database whose contacts were stored under the
/// rule before it: stored values are recomputed, and a change that would merge two contacts or void a
/// phone stops it with nothing changed.
/// </summary>
public sealed class PhoneRuleMigrationTests
{
    private const string MigrationName = "0006_crm_phone_trunk_zero.sql";

    /// <summary>
    /// A database at the migration before the phone rule's, without definitions: today's definitions need
    /// the tables of later migrations (the contacts are written here in plain SQL).
    /// </summary>
    private static async Task<NpgsqlDataSource> DatabaseBeforeTheRuleAsync()
    {
        var dataSource = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync(fromTemplate: false));
        await new MigrationRunner(dataSource, Migration.BuiltIn.TakeWhile(m => m.Name != MigrationName).ToList(), []).ApplyAsync();
        return dataSource;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static Task<Guid> WorkspaceAsync(NpgsqlDataSource dataSource) =>
        ScalarAsync<Guid>(dataSource, "insert into platform.workspaces (name, created_by) values ('Studio', gen_random_uuid()) returning id");

    private static Task<Guid> ContactAsync(NpgsqlDataSource dataSource, Guid workspace, string phone) =>
        ScalarAsync<Guid>(dataSource, "insert into crm.contacts (workspace_id, name, phone) values ($1, 'Ann', $2) returning id", workspace, phone);

    private static Task<string> StoredAsync(NpgsqlDataSource dataSource, Guid contact) =>
        ScalarAsync<string>(dataSource, "select phone_e164 from crm.contacts where id = $1", contact);

    [Fact]
    public async Task ApplyAsync_WhenTwoContactsCollideOnlyUnderTheNewPhoneRule_StopsNamingWorkspacePhoneAndContactsAndChangesNothing()
    {
        await using var dataSource = await DatabaseBeforeTheRuleAsync();
        var workspace = await WorkspaceAsync(dataSource);
        var typed = await ContactAsync(dataSource, workspace, "+44 (0) 7700 900123");
        var fromWhatsApp = await ContactAsync(dataSource, workspace, "+447700900123");
        var other = await ContactAsync(dataSource, workspace, "+44 (0) 20 7946 0000");
        var elsewhere = await WorkspaceAsync(dataSource);
        await ContactAsync(dataSource, elsewhere, "+44 (0) 7700 900123");

        var stopped = await Assert.ThrowsAsync<MigrationException>(() => MigrationRunner.BuiltIn(dataSource).ApplyAsync());

        Assert.Contains(MigrationName, stopped.Message, StringComparison.Ordinal);
        Assert.Contains($"workspace {workspace}  +447700900123  2 contacts: '+44 (0) 7700 900123' (contact {typed}) | '+447700900123' (contact {fromWhatsApp})",
            stopped.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(elsewhere.ToString(), stopped.Message, StringComparison.Ordinal);
        Assert.Contains("Keep one contact per phone", stopped.Message, StringComparison.Ordinal);
        // Rolled back whole: the old rule and the old stored values.
        Assert.Equal("+4402079460000", await StoredAsync(dataSource, other));
        Assert.Equal("+4407700900123", await ScalarAsync<string>(dataSource, "select crm.normalize_phone('+44 (0) 7700 900123')"));
        Assert.False(await ScalarAsync<bool>(dataSource, "select exists (select from platform.schema_migrations where name = $1)", MigrationName));
    }

    [Fact]
    public async Task ApplyAsync_WhenAStoredPhoneHasNoE164FormUnderTheNewRule_StopsNamingIt()
    {
        await using var dataSource = await DatabaseBeforeTheRuleAsync();
        var workspace = await WorkspaceAsync(dataSource);
        var contact = await ContactAsync(dataSource, workspace, "+0044 20 7946 0000");

        var stopped = await Assert.ThrowsAsync<MigrationException>(() => MigrationRunner.BuiltIn(dataSource).ApplyAsync());

        Assert.Contains($"workspace {workspace}  '+0044 20 7946 0000' (contact {contact}): no E.164 form", stopped.Message, StringComparison.Ordinal);
        Assert.Equal("+00442079460000", await StoredAsync(dataSource, contact));
    }

    [Fact]
    public async Task ApplyAsync_WhenNothingCollides_RecomputesEveryStoredPhone()
    {
        await using var dataSource = await DatabaseBeforeTheRuleAsync();
        var workspace = await WorkspaceAsync(dataSource);
        // Stored first, so it comes first in the table: its new value is the old value of the next
        // one, which must have moved on by then.
        var doubleZero = await ContactAsync(dataSource, workspace, "+44 (0) 020 7946 0000");
        var trunk = await ContactAsync(dataSource, workspace, "+44 (0) 20 7946 0000");
        var plain = await ContactAsync(dataSource, workspace, "+1 555 010 0199");
        Assert.Equal("+4402079460000", await StoredAsync(dataSource, trunk));

        var applied = await MigrationRunner.BuiltIn(dataSource).ApplyAsync();

        Assert.Contains(MigrationName, applied.Migrations);
        Assert.Equal("+4402079460000", await StoredAsync(dataSource, doubleZero));
        Assert.Equal("+442079460000", await StoredAsync(dataSource, trunk));
        Assert.Equal("+15550100199", await StoredAsync(dataSource, plain));
        Assert.Equal("+44 (0) 20 7946 0000", await ScalarAsync<string>(dataSource, "select phone from crm.contacts where id = $1", trunk));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource, "select count(*) from crm.contacts where phone_e164 is distinct from crm.normalize_phone(phone)"));
    }
}
