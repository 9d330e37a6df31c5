using System.Collections.Concurrent;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Platform.Rpc;

/// <summary>A callable function of the exposed schema, as the catalog describes it.</summary>
public sealed record ExposedFunction(
    string Name,
    IReadOnlyList<string> ArgNames,
    IReadOnlyList<string> ArgTypes,
    int DefaultCount,
    string ReturnType,
    bool ReturnsSet,
    bool IsVoid,
    bool IsVolatile)
{
    public IEnumerable<string> RequiredArgs => ArgNames.Take(ArgNames.Count - DefaultCount);

    /// <summary>True for the one-unnamed-json-parameter form PostgREST passes the whole body to.</summary>
    public bool TakesWholeBody => ArgNames.Count == 1 && ArgNames[0].Length == 0 && ArgTypes[0] is "json" or "jsonb";

    public string Signature => $"public.{Name}({string.Join(", ", ArgNames.Zip(ArgTypes, (n, t) => $"{n} => {t}"))})";
}

/// <summary>
/// The functions of the exposed schema (<c>public</c>) that Lockstep's definition files granted the serving
/// role, read from <c>pg_proc</c> at start, right after
/// the migrations ran (so no request ever needs a second pooled connection to read it, which a full
/// pool could not give), and the SQL that calls each with named arguments (built once per argument set).
/// </summary>
public sealed class FunctionCatalog(DatabaseHost database) : IHostedService
{
    public const string ExposedSchema = "public";
    private readonly ConcurrentDictionary<string, string> _sql = new(StringComparer.Ordinal);
    private ILookup<string, ExposedFunction>? _functions;

    private ILookup<string, ExposedFunction> Functions =>
        _functions ?? throw new InvalidOperationException("The function catalog is read when the server starts.");

    public IReadOnlyList<ExposedFunction> Overloads(string name) => Functions[name].ToList();

    public IEnumerable<string> Names() => Functions.Select(g => g.Key);

    /// <summary>
    /// SQL calling <paramref name="function"/> with the named arguments present in the JSON body ($1),
    /// typed by PostgreSQL itself through <c>json_to_record</c>, as PostgREST does.
    /// </summary>
    public string CallSql(ExposedFunction function, IReadOnlyCollection<string> argNames)
    {
        var key = function.Signature + "|" + string.Join(",", argNames);
        return _sql.GetOrAdd(key, _ => BuildSql(function, argNames));
    }

    private static string BuildSql(ExposedFunction function, IReadOnlyCollection<string> argNames)
    {
        var fn = $"public.{Quote(function.Name)}";
        string call;
        string from;
        if (function.TakesWholeBody)
        {
            call = $"{fn}($1::{function.ArgTypes[0]})";
            from = "";
        }
        else if (argNames.Count == 0)
        {
            call = $"{fn}()";
            from = "";
        }
        else
        {
            var used = function.ArgNames.Select((n, i) => (Name: n, Type: function.ArgTypes[i])).Where(a => argNames.Contains(a.Name)).ToList();
            call = $"{fn}({string.Join(", ", used.Select(a => $"{Quote(a.Name)} => _.{Quote(a.Name)}"))})";
            from = $" from json_to_record($1::json) as _({string.Join(", ", used.Select(a => $"{Quote(a.Name)} {a.Type}"))})";
        }

        if (function.IsVoid)
        {
            return $"select null::text from (select {call}{from}) as _void";
        }
        if (function.ReturnsSet)
        {
            var source = from.Length == 0 ? $" from {call} as _r" : $"{from} cross join lateral {call} as _r";
            return $"select coalesce(jsonb_agg(_r), '[]'::jsonb)::text{source}";
        }
        return $"select to_jsonb({call})::text{from}";
    }

    /// <summary>
    /// On Citus, the SQL calling <paramref name="function"/> in the shape Citus delegates to the worker that
    /// holds the workspace — a bare <c>select public.fn(...)</c>, each argument taken from the JSON body ($1)
    /// by name and cast to its type, which PostgreSQL folds to a constant — when the function can be called
    /// so: its first argument is <c>p_workspace_id</c> (and the body names it), every argument used has a
    /// scalar type or jsonb, and it returns one jsonb, boolean or integer, whose text is already its JSON.
    /// Null otherwise, and without Citus: then <see cref="CallSql"/>.
    /// </summary>
    public string? RoutedCallSql(ExposedFunction function, IReadOnlyCollection<string> argNames)
    {
        var used = function.ArgNames.Select((n, i) => (Name: n, Type: function.ArgTypes[i])).Where(a => argNames.Contains(a.Name)).ToList();
        if (!database.OnCitus || function.TakesWholeBody || function.ReturnsSet || function.IsVoid
            || function.ReturnType is not ("jsonb" or "boolean" or "integer" or "bigint")
            || function.ArgNames.Count == 0 || function.ArgNames[0] != "p_workspace_id" || !argNames.Contains("p_workspace_id")
            || used.Any(a => a.Type.EndsWith("[]", StringComparison.Ordinal) || a.Type is "json" or "record"))
        {
            return null;
        }
        return _sql.GetOrAdd("routed|" + function.Signature + "|" + string.Join(",", argNames), _ =>
            $"select public.{Quote(function.Name)}({string.Join(", ", used.Select(a =>
                $"{Quote(a.Name)} => ($1::jsonb {(a.Type == "jsonb" ? "->" : "->>")} {FunctionCaller.QuoteLiteral(a.Name)})::{a.Type}"))})");
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

    public async Task StartAsync(CancellationToken cancellationToken) => _functions = await ReadCatalogAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<ILookup<string, ExposedFunction>> ReadCatalogAsync(CancellationToken cancellationToken)
    {
        // Only input arguments count (modes i, b, v); proargtypes lists exactly those, in order.
        const string sql = """
            select p.proname,
                   coalesce((select array_agg(coalesce(p.proargnames[a.ord], '') order by a.ord)
                             from unnest(coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs]))) with ordinality a(mode, ord)
                             where a.mode in ('i', 'b', 'v')), '{}'),
                   coalesce((select array_agg(format_type(t.oid, null) order by t.ord)
                             from unnest(p.proargtypes) with ordinality t(oid, ord)), '{}'),
                   p.pronargdefaults,
                   format_type(p.prorettype, null),
                   p.proretset,
                   p.prorettype = 'void'::regtype,
                   p.provolatile = 'v'
            from pg_proc p
            join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = $1 and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype
              -- Only what a definition file granted the serving role by name: not an extension's functions
              -- (installed into public, executable by PUBLIC), nor anything granted only to PUBLIC.
              and exists (select from aclexplode(p.proacl) a
                          where a.grantee = current_user::regrole and a.privilege_type = 'EXECUTE')
              and not exists (select from pg_depend d
                              where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
            """;
        var functions = new List<ExposedFunction>();
        await using var command = database.DataSource.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter { Value = ExposedSchema });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            functions.Add(new ExposedFunction(
                reader.GetString(0),
                reader.GetFieldValue<string[]>(1),
                reader.GetFieldValue<string[]>(2),
                reader.GetInt16(3),
                reader.GetString(4),
                reader.GetBoolean(5),
                reader.GetBoolean(6),
                reader.GetBoolean(7)));
        }
        return functions.ToLookup(f => f.Name, StringComparer.Ordinal);
    }

    /// <summary>Similarity of two names for PostgREST's "Perhaps you meant" hint (1 = equal).</summary>
    public static double Similarity(string a, string b)
    {
        var distance = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            distance[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            distance[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                distance[i, j] = Math.Min(Math.Min(distance[i - 1, j] + 1, distance[i, j - 1] + 1), distance[i - 1, j - 1] + cost);
            }
        }
        var longest = Math.Max(a.Length, b.Length);
        return longest == 0 ? 1 : 1 - (double)distance[a.Length, b.Length] / longest;
    }
}
