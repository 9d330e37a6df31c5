using System.Globalization;
using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// A deleted row takes its personal fields (names, phones, emails, notes, message bodies) out of the
/// audit trail: out of every earlier entry of that entity, and its own delete entry never copies them;
/// the entries themselves stay. Whoever deletes — direct SQL as the owner, a cascade, a function.
/// Sentinel values are searched for in the before/after text of every entry of the workspace.
/// </summary>
[RunsOnCitus]
public sealed class AuditErasureTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private sealed record Person(string Name, string Phone, string E164, string Email)
    {
        public static Person New()
        {
            var digits = Random.Shared.Next(1_000_000, 9_999_999).ToString(CultureInfo.InvariantCulture);
            var tag = Guid.NewGuid().ToString("N")[..10];
            return new Person($"Sentinel {tag}", $"+1 555 {digits[..3]} {digits[3..]}", $"+1555{digits}", $"sentinel-{tag}@example.com");
        }

        public string[] Values => [Name, Phone, E164, Email];
    }

    private async Task<(Guid Workspace, Guid Owner)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        var created = await CallAsync(owner, "select public.create_workspace('Erasure')");
        return (created.GetProperty("workspace_id").GetGuid(), owner);
    }

    private async Task<JsonElement> CallAsync(Guid user, string sql, params object?[] args)
    {
        var result = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(user, sql, args)).RootElement.Clone();
        Assert.True(result.GetProperty("success").GetBoolean(), result.ToString());
        return result;
    }

    /// <summary>Entries of the workspace whose before or after text holds any of the values.</summary>
    private Task<long> EntriesHoldingAsync(Guid workspace, params string[] values) => db.ScalarAsync<long>("""
        select count(*) from platform.audit_log l
        where l.workspace_id = $1
          and exists (select from unnest($2::text[]) v where coalesce(l.before::text, '') || coalesce(l.after::text, '') like '%' || v || '%')
        """, workspace, values);

    private Task<string> ActionsAsync(Guid workspace, string table, Guid id) => db.ScalarAsync<string>(
        "select string_agg(action, ' ' order by id) from platform.audit_log where workspace_id = $1 and entity_table = $2 and entity_id = $3",
        workspace, table, id.ToString());

    private async Task ExecuteAsOwnerAsync(string sql, params object[] args)
    {
        await using var command = db.DataSource.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg });
        }
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    /// <summary>Text columns of tenant tables that hold no personal data: codes, states, Meta's ids, a secret never copied.</summary>
    private static readonly string[] NotPersonal =
    [
        "gifts.gift_claims.claim_type", "gifts.notifications.type",
        "leads.conversations.status", "leads.leads.source", "leads.leads.status", "leads.leads.type",
        "leads.messages.direction", "leads.messages.status", "leads.messages.template_language", "leads.messages.template_name",
        "leads.messages.wa_message_id", "leads.outbox.last_error_code",
        "leads.pending_statuses.callback_data", "leads.pending_statuses.status", "leads.pending_statuses.wa_message_id",
        "leads.whatsapp_connections.access_token", "leads.whatsapp_connections.phone_number_id",
        "platform.members.role", "sessions.bookings.status",
    ];

    [Fact]
    public async Task PersonalFields_WhenTenantTablesAreReadFromTheCatalog_EveryTextColumnIsEitherPersonalOrKnownNotToBe()
    {
        var unclassified = new List<string>();
        await using var command = db.DataSource.CreateCommand("""
            select c.oid::regclass::text || '.' || a.attname
            from pg_class c
            join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            where c.relkind in ('r', 'p')
              and c.relnamespace::regnamespace::text = any('{platform,crm,leads,sessions,gifts}')
              and c.oid <> 'platform.audit_log'::regclass
              and (c.oid = 'platform.workspaces'::regclass
                   or exists (select from pg_attribute w where w.attrelid = c.oid and w.attname = 'workspace_id' and not w.attisdropped))
              and a.atttypid in ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype, 'json'::regtype)
              and a.attname <> all(platform.audit_personal_fields(c.oid::regclass::text))
              and c.oid::regclass::text || '.' || a.attname <> all($1)
            order by 1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = NotPersonal });
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            unclassified.Add(reader.GetString(0));
        }
        Assert.True(unclassified.Count == 0, "text columns of tenant tables neither in platform.audit_personal_fields (db/functions/platform/audit_retention.sql: "
            + "erased from the audit trail when the row is deleted) nor in NotPersonal here:\n" + string.Join("\n", unclassified));
    }

    [Fact]
    public async Task Delete_WhenTheOwnerDeletesAContactInSql_ErasesItsNamePhoneAndEmailFromEveryEntryButKeepsTheEntries()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var deleted = Person.New();
        var kept = Person.New();
        var created = await CallAsync(owner, "select public.create_client_with_contact($1, 'Client Stays', $2, $3, $4)",
            workspace, deleted.Name, deleted.Phone, deleted.Email);
        var contact = created.GetProperty("contact_id").GetGuid();
        // A second primary contact demotes the first: an update entry that copies its fields before and after.
        await CallAsync(owner, "select public.add_contact($1, $2, $3, $4, $5, true)",
            workspace, created.GetProperty("client_id").GetGuid(), kept.Name, kept.Phone, kept.Email);
        Assert.Equal(2L, await EntriesHoldingAsync(workspace, deleted.Values));

        await ExecuteAsOwnerAsync("delete from crm.contacts where workspace_id = $1 and id = $2", workspace, contact);

        Assert.Equal(0L, await EntriesHoldingAsync(workspace, deleted.Values));
        Assert.Equal("insert update delete", await ActionsAsync(workspace, "crm.contacts", contact));
        var gone = JsonDocument.Parse(await db.ScalarAsync<string>(
            "select before::text from platform.audit_log where workspace_id = $1 and entity_id = $2 and action = 'delete'", workspace, contact.ToString())).RootElement;
        Assert.Equal(contact, gone.GetProperty("id").GetGuid());
        Assert.False(gone.GetProperty("is_primary").GetBoolean());
        Assert.All(new[] { "name", "phone", "phone_e164", "email" }, field => Assert.False(gone.TryGetProperty(field, out _), field));
        Assert.Equal("sql", await db.ScalarAsync<string>(
            "select operation from platform.audit_log where workspace_id = $1 and entity_id = $2 and action = 'delete'", workspace, contact.ToString()));
        // Only the deleted entity's entries are touched.
        Assert.True(await EntriesHoldingAsync(workspace, kept.Values) > 0);
        Assert.True(await EntriesHoldingAsync(workspace, "Client Stays") > 0);
    }

    [Fact]
    public async Task Delete_WhenAClientIsDeletedAndItsContactsGoWithIt_ErasesTheClientsAndTheContactsPersonalFields()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var first = Person.New();
        var second = Person.New();
        var notes = "Notes " + Guid.NewGuid().ToString("N");
        var created = await CallAsync(owner, "select public.create_client_with_contact($1, $2, $2, $3, $4, $5)",
            workspace, first.Name, first.Phone, first.Email, notes);
        var client = created.GetProperty("client_id").GetGuid();
        var other = (await CallAsync(owner, "select public.add_contact($1, $2, $3, $4, $5)", workspace, client, second.Name, second.Phone, second.Email))
            .GetProperty("contact_id").GetGuid();
        await CallAsync(owner, "select public.create_purchase($1, 5)", client);
        Assert.True(await EntriesHoldingAsync(workspace, [.. first.Values, .. second.Values, notes]) >= 3);

        await ExecuteAsOwnerAsync("delete from crm.clients where workspace_id = $1 and id = $2", workspace, client);

        Assert.Equal(0L, await EntriesHoldingAsync(workspace, [.. first.Values, .. second.Values, notes]));
        Assert.Equal("insert delete", await ActionsAsync(workspace, "crm.clients", client));
        Assert.Equal("insert delete", await ActionsAsync(workspace, "crm.contacts", created.GetProperty("contact_id").GetGuid()));
        Assert.Equal("insert delete", await ActionsAsync(workspace, "crm.contacts", other));
    }

    [Fact]
    public async Task Delete_WhenAWorkspaceIsDeleted_LeavesNoNamePhoneEmailDetailsOrMessageBodyOfItsRows()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var member = Person.New();
        var customer = Person.New();
        var client = Person.New();
        var texted = Person.New();
        var details = "Details " + Guid.NewGuid().ToString("N");
        var body = "Body " + Guid.NewGuid().ToString("N");
        await CallAsync(owner, "select public.add_member($1, $2, 'member', $3)", workspace, Guid.NewGuid(), member.Name);
        await CallAsync(owner, "select public.create_client_with_contact($1, $2, $2, $3, $4)", workspace, client.Name, client.Phone, client.Email);
        await CallAsync(owner, "select public.create_lead_with_conversation($1, $2, $3, 'order', $4)", workspace, customer.Phone, customer.Name, details);
        await CallAsync(owner, "select leads.store_whatsapp_connection($1, '123456789', 'a-token')::text", workspace);
        await Leads.LeadsServerFixture.CustomerWroteAsync(db, "123456789", texted.E164);
        await CallAsync(owner, "select public.send_whatsapp_message($1, $2, $3, true, $4)", workspace, texted.Phone, body, texted.Name);
        string[] sentinels = [.. member.Values, .. customer.Values, .. client.Values, .. texted.Values, details, body];
        var outbox = await db.ScalarAsync<long>("select count(*) from platform.audit_log where workspace_id = $1 and entity_table = 'leads.outbox'", workspace);
        Assert.True(outbox > 0);
        Assert.True(await EntriesHoldingAsync(workspace, sentinels) >= 8);

        await ExecuteAsOwnerAsync("delete from platform.workspaces where id = $1", workspace);

        Assert.Equal(0L, await EntriesHoldingAsync(workspace, sentinels));
        Assert.Equal(0L, await db.ScalarAsync<long>("""
            select count(*) from (
              select entity_table, entity_id from platform.audit_log where workspace_id = $1
              group by entity_table, entity_id having not bool_or(action = 'delete')) undeleted
            """, workspace));
    }

    [Fact]
    public async Task Delete_WhenAFunctionRemovesAMember_ErasesTheDisplayName()
    {
        var (workspace, owner) = await WorkspaceAsync();
        var member = Person.New();
        var user = Guid.NewGuid();
        await CallAsync(owner, "select public.add_member($1, $2, 'admin', $3)", workspace, user, member.Name);
        await CallAsync(owner, "select public.set_member_role($1, $2, 'member')", workspace, user);
        Assert.Equal(2L, await EntriesHoldingAsync(workspace, member.Name));

        await CallAsync(owner, "select public.remove_member($1, $2)", workspace, user);

        Assert.Equal(0L, await EntriesHoldingAsync(workspace, member.Name));
        Assert.Equal("public.remove_member", await db.ScalarAsync<string>(
            "select operation from platform.audit_log where workspace_id = $1 and entity_id = $2 and action = 'delete'", workspace, user.ToString()));
        Assert.Equal("insert update delete", await db.ScalarAsync<string>(
            "select string_agg(action, ' ' order by id) from platform.audit_log where workspace_id = $1 and entity_id = $2", workspace, user.ToString()));
    }
}
