using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Lockstep.Platform.Database;

/// <summary>One file of <c>db/migrations/</c>: its name (<c>NNNN_name.sql</c>) and text. Applied once, in order.</summary>
public sealed record Migration(string Name, string Sql)
{
    // Computed, not stored: a stored value would be copied unchanged by `with { Sql = ... }`.
    public string Checksum => SchemaFiles.Checksum(Sql);

    /// <summary>The schema-qualified names of the functions this file creates (<c>public.use_session</c>).</summary>
    public IReadOnlyList<string> Functions => SchemaFiles.FunctionsCreatedBy(Sql);

    /// <summary>The migrations built into this program from <c>db/migrations/*.sql</c>, in order.</summary>
    public static IReadOnlyList<Migration> BuiltIn { get; } = SchemaFiles.Load("migrations/")
        .OrderBy(file => file.Name, StringComparer.Ordinal)
        .Select(file => new Migration(file.Name, file.Sql))
        .ToList();
}

/// <summary>
/// One file of <c>db/functions/</c>: its name (<c>module/resource.sql</c>) and the current text of the
/// functions, triggers and grants it holds. Applied again whenever its text changes.
/// </summary>
public sealed record Definition(string Name, string Sql)
{
    /// <summary>The order definitions are applied in: a module's functions may call those of the modules before it.</summary>
    public static readonly IReadOnlyList<string> ModuleOrder = ["platform", "crm", "leads", "sessions", "gifts"];

    public string Checksum => SchemaFiles.Checksum(Sql);

    /// <summary>The schema-qualified names of the functions this file creates (<c>public.use_session</c>).</summary>
    public IReadOnlyList<string> Functions => SchemaFiles.FunctionsCreatedBy(Sql);

    /// <summary>The definitions built into this program from <c>db/functions/*/*.sql</c>, in <see cref="ModuleOrder"/>, then by name.</summary>
    public static IReadOnlyList<Definition> BuiltIn { get; } = InOrder(SchemaFiles.Load("functions/")
        .Select(file => new Definition(file.Name, file.Sql)));

    public static IReadOnlyList<Definition> InOrder(IEnumerable<Definition> definitions) => definitions
        .OrderBy(definition => ModuleRank(definition.Name))
        .ThenBy(definition => definition.Name, StringComparer.Ordinal)
        .ToList();

    private static int ModuleRank(string name)
    {
        var rank = ModuleOrder.ToList().IndexOf(name.Split('/')[0]);
        return rank >= 0 ? rank : throw new InvalidOperationException(
            $"db/functions/{name}: its folder is not one of the modules {string.Join(", ", ModuleOrder)} (Definition.ModuleOrder states the order).");
    }
}

internal static partial class SchemaFiles
{
    public static string Checksum(string sql) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sql))).ToLowerInvariant();

    public static IEnumerable<(string Name, string Sql)> Load(string prefix)
    {
        var assembly = typeof(SchemaFiles).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(name => (name[prefix.Length..], Read(assembly, name)))
            .ToList();
    }

    public static IReadOnlyList<string> FunctionsCreatedBy(string sql) =>
        CreateFunction().Matches(sql).Select(match => match.Groups[1].Value).Distinct().ToList();

    [GeneratedRegex(@"create (?:or replace )?function ([a-z_0-9]+\.[a-z_0-9]+)\(")]
    private static partial Regex CreateFunction();

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
