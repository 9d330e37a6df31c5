using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Platform;

/// <summary>
/// plpgsql_check over every PL/pgSQL function Lockstep defines: errors, and the performance and
/// security warnings. A finding fails the test unless <see cref="Accepted"/> names it with a reason.
/// The extension lives in its own schema of a test-only database, never in public, where the rpc
/// endpoint would expose its functions.
/// </summary>
public sealed class PlpgsqlCheckTests
{
    /// <summary>Accepted findings: "function: message" → why it is fine.</summary>
    private static readonly Dictionary<string, string> Accepted = new()
    {
    };

    [Fact]
    public async Task PlpgsqlCheck_OverEveryFunctionLockstepDefines_FindsNothingNotAccepted()
    {
        await using var dataSource = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync());
        await using (var install = dataSource.CreateCommand("create schema plpgsql_check; create extension plpgsql_check schema plpgsql_check"))
        {
            await install.ExecuteNonQueryAsync();
        }

        await using var command = dataSource.CreateCommand($"""
            select format('%s.%s(%s)', p.pronamespace::regnamespace, p.proname, pg_get_function_identity_arguments(p.oid)),
                   f.level, coalesce(f.sqlstate, ''), f.message, coalesce(f.lineno, 0), coalesce(f.detail, '')
            from pg_proc p
            join pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
            -- A trigger function is checked against a table it is attached to.
            left join lateral (select t.tgrelid from pg_trigger t where t.tgfoid = p.oid and not t.tgisinternal order by t.tgrelid limit 1) t on true
            cross join lateral plpgsql_check.plpgsql_check_function_tb(
              p.oid, coalesce(t.tgrelid, 0), performance_warnings => true, security_warnings => true) f
            where {LockstepFunctions}
            order by 1, 5
            """);
        var findings = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var key = $"{reader.GetString(0)}: {reader.GetString(3)}";
                if (!Accepted.ContainsKey(key))
                {
                    findings.Add($"{DefinitionFiles.Named(reader.GetString(0), key)} [{reader.GetString(1)} {reader.GetString(2)}, line {reader.GetInt32(4)}: {reader.GetString(5)}]");
                }
            }
        }
        Assert.True(findings.Count == 0, $"{findings.Count} plpgsql_check findings not accepted:\n" + string.Join("\n", findings));

        // The check ran over the real set, not over an empty list.
        await using var count = dataSource.CreateCommand($"select count(*) from pg_proc p join pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql' where {LockstepFunctions}");
        Assert.True((long)(await count.ExecuteScalarAsync())! >= 40);
    }

    private const string LockstepFunctions = """
        p.pronamespace::regnamespace::text in ('public', 'auth', 'platform', 'crm', 'leads', 'sessions', 'gifts')
          and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        """;
}
