using System.Text.RegularExpressions;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Platform;

/// <summary>
/// The rules that keep every function working once the tables are sharded by workspace_id on Citus
/// (db/README.md), read from the catalog of plain PostgreSQL so a later file cannot drift. Offenders are
/// named with the file that defines them.
/// </summary>
[RunsOnCitus]
public sealed partial class CitusRulesTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private static readonly string[] FunctionSchemas = ["public", "platform", "crm", "leads", "sessions", "gifts", "auth"];
    private static readonly string[] ModuleSchemas = ["platform", "crm", "leads", "sessions", "gifts"];

    /// <summary>Public functions named by an id alone that need no p_workspace_id form, each with the reason.</summary>
    private static readonly Dictionary<string, string> IdAloneByDesign = new()
    {
        ["public.mark_notification_read"] = "the caller's own inbox, which spans their workspaces (list_notifications, mark_all_notifications_read); "
            + "the row is found by its id and recipient, and a reader marks one at a time",
    };

    private sealed record Function(
        string Name, string Schema, string Language, int ArgCount, string Source, string[] ArgNames, string[] RowTypedArgs, string ReturnType)
    {
        /// <summary>"public.use_session" of "public.use_session(uuid)".</summary>
        public string QualifiedName => Name.Split('(')[0];

        public string ArgTypes => Name[(Name.IndexOf('(') + 1)..^1];
    }

    // Extension functions are the extension's business, not ours. A name is written schema-qualified
    // whatever the search_path, so DefinitionFiles finds its file.
    private const string FunctionsSql = """
        select n.nspname || '.' || p.proname || '(' || oidvectortypes(p.proargtypes) || ')', n.nspname, l.lanname,
               p.pronargs::int, p.prosrc, coalesce(p.proargnames, array[]::text[]),
               array(select format_type(t.oid, null)
                     from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) as t(oid)
                     join pg_type ty on ty.oid = t.oid
                     join pg_class c on c.oid in (ty.typrelid, (select e.typrelid from pg_type e where e.oid = ty.typelem))
                     where c.relkind in ('r', 'p')),
               format_type(p.prorettype, null)
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        join pg_language l on l.oid = p.prolang
        where n.nspname = any($1)
          and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        order by 1
        """;

    private const string TenantTablesSql = """
        select c.relnamespace::regnamespace::text || '.' || c.relname
        from pg_class c
        where c.relkind in ('r', 'p')
          and (c.oid = 'platform.workspaces'::regclass
               or c.relnamespace::regnamespace::text = any($1)
                  and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped))
        order by 1
        """;

    // Parameters in a SQL-language function stop Citus from planning a query that spans shards
    // ("Possibly this is caused by the use of parameters in SQL functions"); PL/pgSQL plans it.
    [Fact]
    public async Task SqlFunctions_WithParameters_ReadNoTenantTable()
    {
        var functions = await FunctionsAsync(db.DataSource);
        var tenantTables = await TenantTablesAsync(db.DataSource);
        Assert.True(functions.Count >= 80, $"only {functions.Count} functions examined");
        Assert.True(tenantTables.Count >= 15, $"only {tenantTables.Count} tenant tables found");

        var offenders = SqlFunctionsReadingTenantTables(functions, tenantTables);
        Assert.True(offenders.Count == 0, "SQL-language functions with parameters that read a tenant table (rewrite them in PL/pgSQL):\n" + string.Join("\n", offenders));
    }

    // Inside a query that spans shards auth.uid() runs on the workers, where the claims are not set:
    // list_workspaces silently answered []. Read into a variable, the caller is a constant of the query.
    [Fact]
    public async Task AuthUid_WhenUsed_IsOnlyAssignedToAVariable()
    {
        var functions = await FunctionsAsync(db.DataSource);
        var callers = functions.Count(f => f.Schema != "auth" && AuthCall().IsMatch(Code(f.Source)));
        Assert.True(callers >= 20, $"only {callers} functions call auth.uid() or auth.jwt()");

        var offenders = AuthCallsOutsideAssignments(functions);
        Assert.True(offenders.Count == 0, "functions that use auth.uid()/auth.jwt() other than as `v := auth.uid();`:\n" + string.Join("\n", offenders));
    }

    // A helper taking a table's row type is not propagated to the workers: a shard query calling it
    // fails with `function crm.contact_json(crm.contacts_102170) does not exist`.
    [Fact]
    public async Task Functions_TakeNoRowTypedArgument()
    {
        var functions = await FunctionsAsync(db.DataSource);
        Assert.True(functions.Count >= 80, $"only {functions.Count} functions examined");

        var offenders = RowTypedArguments(functions);
        Assert.True(offenders.Count == 0, "functions taking a table's row type (take ids or jsonb instead):\n" + string.Join("\n", offenders));
    }

    // Citus refuses now() in `on conflict ... do update`; a value read once into a variable, or
    // excluded.<column>, is a constant it accepts.
    [Fact]
    public async Task OnConflictDoUpdate_SetsNoNow()
    {
        var functions = await FunctionsAsync(db.DataSource);
        var upserts = functions.Sum(f => OnConflictDoUpdate().Matches(Code(f.Source)).Count);
        Assert.True(upserts >= 2, $"only {upserts} `on conflict ... do update` statements found");

        var offenders = ClockInOnConflictDoUpdate(functions);
        Assert.True(offenders.Count == 0, "`on conflict ... do update` statements that read the clock (use a variable or excluded.<column>):\n" + string.Join("\n", offenders));
    }

    // A violation raised on a shard names the shard's copy of its constraint (unique_phone_workspace_102170);
    // the suffix is dropped to find the schema's name (platform.violated_constraint, Problems), which is
    // unambiguous only while no constraint of the schema itself ends in a digit.
    [Fact]
    public async Task Constraints_EndInNoDigit()
    {
        await using var command = db.DataSource.CreateCommand("""
            select c.conrelid::regclass::text || ': ' || c.conname
            from pg_constraint c join pg_namespace n on n.oid = c.connamespace
            -- A Citus node's shards (platform.idempotency_keys_102152) carry the suffix by design.
            where n.nspname = any($1) and c.conname ~ '[0-9_]$' and c.conrelid::regclass::text !~ '_[0-9]+$'
            union all
            select t.tgrelid::regclass::text || ': ' || t.tgname
            from pg_trigger t join pg_class r on r.oid = t.tgrelid
            where r.relnamespace::regnamespace::text = any($1) and t.tgconstraint <> 0 and not t.tgisinternal and t.tgname ~ '[0-9_]$'
              and r.relname !~ '_[0-9]+$'
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = ModuleSchemas });
        var offenders = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            offenders.Add(reader.GetString(0));
        }
        Assert.True(offenders.Count == 0, "constraints whose name ends in a digit (a shard's suffix could not be told from it):\n" + string.Join("\n", offenders));
    }

    // Citus routes a call by its distribution argument, which it finds by position: the workspace first.
    [Fact]
    public async Task PublicFunctions_WithAWorkspace_TakeItFirst()
    {
        var functions = await FunctionsAsync(db.DataSource);
        var withWorkspace = functions.Count(f => f.Schema == "public" && f.ArgNames.Contains("p_workspace_id"));
        Assert.True(withWorkspace >= 15, $"only {withWorkspace} public functions take p_workspace_id");

        var offenders = WorkspaceNotFirstArguments(functions);
        Assert.True(offenders.Count == 0, "public functions whose p_workspace_id is not their first argument:\n" + string.Join("\n", offenders));
    }

    // A function named by an id alone (use_session(p_purchase_id)) must find the row's workspace first,
    // which on Citus is a query on every shard; its p_workspace_id form is routed to one node.
    [Fact]
    public async Task PublicFunctions_NamedByAnIdAlone_HaveAWorkspaceFirstForm()
    {
        var functions = await FunctionsAsync(db.DataSource);
        var idAlone = functions.Count(NamedByAnIdAlone);
        Assert.True(idAlone >= 20, $"only {idAlone} public functions are named by an id alone");

        var offenders = IdAloneWithoutWorkspaceForm(functions);
        Assert.True(offenders.Count == 0, "public functions named by an id alone without their p_workspace_id form (same arguments after it, same return type):\n"
            + string.Join("\n", offenders));
    }

    [Fact]
    public async Task Catalog_WhenAFunctionBreaksEachRule_ReportsEveryBreak()
    {
        // Proves the checks can fail: a scratch database with one function breaking each rule, and
        // look-alikes that break none (a table named in a string or a comment, an assigned caller, a
        // clock read after `do nothing`).
        var scratch = await TestCluster.CreateDatabaseAsync();
        await using var scratchSource = NpgsqlDataSource.Create(scratch);
        await using (var setup = scratchSource.CreateCommand("""
            create function crm.scratch_sql_reader(p_workspace_id uuid, p_id uuid) returns text language sql stable as $$
              select c.name from crm.contacts c where c.workspace_id = p_workspace_id and c.id = p_id
            $$;
            create function crm.scratch_sql_literal(p_table text) returns boolean language sql immutable as $$
              select p_table = 'crm.contacts' -- not a read of crm.contacts
            $$;
            create function public.scratch_uid_in_query(p_workspace_id uuid) returns boolean language plpgsql stable as $$
            declare
              v_user uuid := auth.uid();
            begin
              return v_user is not null and exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = auth.uid());
            end;
            $$;
            create function public.scratch_uid_assigned(p_workspace_id uuid) returns boolean language plpgsql stable as $$
            declare
              v_user uuid;
            begin
              v_user := auth.uid(); -- not auth.uid() in a query
              return exists (select 1 from platform.members m where m.workspace_id = p_workspace_id and m.user_id = v_user);
            end;
            $$;
            create function crm.scratch_row_typed(p_contact crm.contacts) returns text language sql immutable as $$ select 'x' $$;
            create function crm.scratch_clock_upsert(p_workspace_id uuid, p_user uuid) returns timestamptz language plpgsql as $$
            begin
              insert into gifts.notification_counters as c (workspace_id, recipient_id, last_seq) values (p_workspace_id, p_user, 1)
              on conflict (workspace_id, recipient_id) do update set last_seq = extract(epoch from now())::bigint;
              return null;
            end;
            $$;
            create function crm.scratch_clock_after_nothing(p_workspace_id uuid, p_user uuid) returns timestamptz language plpgsql as $$
            begin
              insert into gifts.notification_counters (workspace_id, recipient_id, last_seq) values (p_workspace_id, p_user, 1)
              on conflict do nothing;
              return now();
            end;
            $$;
            create function public.scratch_workspace_last(p_id uuid, p_workspace_id uuid) returns boolean language sql immutable as $$ select true $$;
            create function public.scratch_by_id(p_thing_id uuid) returns boolean language sql immutable as $$ select true $$;
            create function public.scratch_other_return(p_thing_id uuid) returns boolean language sql immutable as $$ select true $$;
            create function public.scratch_other_return(p_workspace_id uuid, p_thing_id uuid) returns jsonb language sql immutable as $$ select null::jsonb $$;
            create function public.scratch_routed(p_thing_id uuid, p_flag boolean) returns boolean language sql immutable as $$ select true $$;
            create function public.scratch_routed(p_workspace_id uuid, p_thing_id uuid, p_flag boolean) returns boolean language sql immutable as $$ select true $$;
            """))
        {
            await setup.ExecuteNonQueryAsync();
        }

        var functions = await FunctionsAsync(scratchSource);
        var found = SqlFunctionsReadingTenantTables(functions, await TenantTablesAsync(scratchSource))
            .Concat(AuthCallsOutsideAssignments(functions))
            .Concat(RowTypedArguments(functions))
            .Concat(ClockInOnConflictDoUpdate(functions))
            .Concat(WorkspaceNotFirstArguments(functions))
            .Concat(IdAloneWithoutWorkspaceForm(functions))
            .ToList();

        Assert.Contains(found, v => v.StartsWith("crm.scratch_sql_reader(uuid, uuid) is SQL-language and reads crm.contacts", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("public.scratch_uid_in_query(uuid) uses auth.uid()/auth.jwt() 2 times", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("crm.scratch_row_typed(crm.contacts) takes crm.contacts", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("crm.scratch_clock_upsert(uuid, uuid) reads the clock", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("public.scratch_workspace_last(uuid, uuid) takes p_workspace_id as argument 2", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("public.scratch_by_id(uuid) has no public.scratch_by_id(p_workspace_id uuid, p_thing_id uuid) returning boolean", StringComparison.Ordinal));
        Assert.Contains(found, v => v.StartsWith("public.scratch_other_return(uuid) has no public.scratch_other_return(p_workspace_id uuid, p_thing_id uuid) returning boolean", StringComparison.Ordinal));
        Assert.DoesNotContain(found, v => v.StartsWith("public.scratch_routed", StringComparison.Ordinal));
        Assert.DoesNotContain(found, v => v.StartsWith("crm.scratch_sql_literal", StringComparison.Ordinal));
        Assert.DoesNotContain(found, v => v.StartsWith("public.scratch_uid_assigned", StringComparison.Ordinal));
        Assert.DoesNotContain(found, v => v.StartsWith("crm.scratch_clock_after_nothing", StringComparison.Ordinal));
    }

    private static List<string> SqlFunctionsReadingTenantTables(IEnumerable<Function> functions, IReadOnlyList<string> tenantTables) => functions
        .Where(f => f.Language == "sql" && f.ArgCount > 0)
        .Select(f => (Function: f, Read: tenantTables.Where(t => NamesTable(CodeWithoutStrings(f.Source), t)).ToList()))
        .Where(r => r.Read.Count > 0)
        .Select(r => DefinitionFiles.Named(r.Function.Name, $"{r.Function.Name} is SQL-language and reads {string.Join(", ", r.Read)}"))
        .ToList();

    private static List<string> AuthCallsOutsideAssignments(IEnumerable<Function> functions) => functions
        .Where(f => f.Schema != "auth")
        .Select(f => (Function: f, Uses: AuthCall().Matches(Code(f.Source)).Count, Assigned: AuthAssignment().Matches(Code(f.Source)).Count))
        .Where(r => r.Uses != r.Assigned)
        .Select(r => DefinitionFiles.Named(r.Function.Name, $"{r.Function.Name} uses auth.uid()/auth.jwt() {r.Uses} times, {r.Assigned} of them as `:= auth.uid();`"))
        .ToList();

    private static List<string> RowTypedArguments(IEnumerable<Function> functions) => functions
        .Where(f => f.RowTypedArgs.Length > 0)
        .Select(f => DefinitionFiles.Named(f.Name, $"{f.Name} takes {string.Join(", ", f.RowTypedArgs.Distinct())}"))
        .ToList();

    private static List<string> ClockInOnConflictDoUpdate(IEnumerable<Function> functions) => functions
        .Where(f => OnConflictDoUpdate().Matches(Code(f.Source)).Any(statement => Clock().IsMatch(statement.Value)))
        .Select(f => DefinitionFiles.Named(f.Name, $"{f.Name} reads the clock in `on conflict ... do update`"))
        .ToList();

    private static List<string> WorkspaceNotFirstArguments(IEnumerable<Function> functions) => functions
        .Where(f => f.Schema == "public" && f.ArgNames.Contains("p_workspace_id") && f.ArgNames[0] != "p_workspace_id")
        .Select(f => DefinitionFiles.Named(f.Name, $"{f.Name} takes p_workspace_id as argument {Array.IndexOf(f.ArgNames, "p_workspace_id") + 1}"))
        .ToList();

    /// <summary>A public function whose first argument is a uuid named p_..._id other than p_workspace_id.</summary>
    private static bool NamedByAnIdAlone(Function f) =>
        f.Schema == "public" && f.ArgNames.Length > 0 && f.ArgNames[0] != "p_workspace_id" && !f.ArgNames.Contains("p_workspace_id")
        && IdArgument().IsMatch(f.ArgNames[0]) && f.ArgTypes.Split(", ")[0] == "uuid";

    private static List<string> IdAloneWithoutWorkspaceForm(IReadOnlyCollection<Function> functions) => functions
        .Where(NamedByAnIdAlone)
        .Where(f => !IdAloneByDesign.ContainsKey(f.QualifiedName))
        .Where(f => !functions.Any(w => w.QualifiedName == f.QualifiedName && w.ReturnType == f.ReturnType
            && w.ArgTypes == "uuid, " + f.ArgTypes && w.ArgNames.SequenceEqual(f.ArgNames.Prepend("p_workspace_id"))))
        .Select(f => DefinitionFiles.Named(f.Name,
            $"{f.Name} has no {f.QualifiedName}({string.Join(", ", f.ArgNames.Prepend("p_workspace_id").Zip(f.ArgTypes.Split(", ").Prepend("uuid"), (n, t) => $"{n} {t}"))}) returning {f.ReturnType}"))
        .ToList();

    private static bool NamesTable(string code, string table) =>
        Regex.IsMatch(code, $@"\b{Regex.Escape(table)}\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>The body without its comments: a comment that mentions a rule's pattern breaks none.</summary>
    private static string Code(string source) =>
        CommentOrString().Replace(source, m => m.Value.StartsWith('\'') ? m.Value : " ");

    /// <summary>The body without comments and string literals: a table named in a string ('crm.contacts') is not read.</summary>
    private static string CodeWithoutStrings(string source) =>
        CommentOrString().Replace(source, m => m.Value.StartsWith('\'') ? "''" : " ");

    // Strings are matched too, so that `--` or `/*` inside one starts no comment.
    [GeneratedRegex(@"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex CommentOrString();

    [GeneratedRegex(@"^p_(?:\w+_)?id$")]
    private static partial Regex IdArgument();

    [GeneratedRegex(@"\bauth\.(?:uid|jwt)\(\)", RegexOptions.IgnoreCase)]
    private static partial Regex AuthCall();

    [GeneratedRegex(@":=\s*auth\.(?:uid|jwt)\(\)\s*;", RegexOptions.IgnoreCase)]
    private static partial Regex AuthAssignment();

    // From `on conflict` to the end of its statement, when the statement updates.
    [GeneratedRegex(@"\bon\s+conflict\b[^;]*?\bdo\s+update\s+set\b[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex OnConflictDoUpdate();

    [GeneratedRegex(@"\bnow\(\)|\bcurrent_timestamp\b|\bclock_timestamp\(\)", RegexOptions.IgnoreCase)]
    private static partial Regex Clock();

    private static async Task<List<Function>> FunctionsAsync(NpgsqlDataSource source)
    {
        await using var command = source.CreateCommand(FunctionsSql);
        command.Parameters.Add(new NpgsqlParameter { Value = FunctionSchemas });
        await using var reader = await command.ExecuteReaderAsync();
        var functions = new List<Function>();
        while (await reader.ReadAsync())
        {
            functions.Add(new Function(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.GetString(4), reader.GetFieldValue<string[]>(5), reader.GetFieldValue<string[]>(6), reader.GetString(7)));
        }
        return functions;
    }

    private static async Task<List<string>> TenantTablesAsync(NpgsqlDataSource source)
    {
        await using var command = source.CreateCommand(TenantTablesSql);
        command.Parameters.Add(new NpgsqlParameter { Value = ModuleSchemas });
        await using var reader = await command.ExecuteReaderAsync();
        var tables = new List<string>();
        while (await reader.ReadAsync())
        {
            tables.Add(reader.GetString(0));
        }
        return tables;
    }
}
