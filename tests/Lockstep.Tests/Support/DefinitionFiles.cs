using Lockstep.Platform.Database;

namespace Lockstep.Tests.Support;

/// <summary>Where a function's current text lives, for catalog tests that name an offender's file.</summary>
public static class DefinitionFiles
{
    private static readonly Dictionary<string, string> FileOfFunction = Definition.BuiltIn
        .SelectMany(d => d.Functions.Select(function => (Function: function, File: $"db/functions/{d.Name}")))
        .Concat(Migration.BuiltIn.SelectMany(m => m.Functions.Select(function => (Function: function, File: $"db/migrations/{m.Name}"))))
        .GroupBy(f => f.Function)
        .ToDictionary(g => g.Key, g => string.Join(", ", g.Select(f => f.File).Distinct()));

    /// <summary>The file(s) that create the function named by a <c>regprocedure</c> text such as <c>public.use_session(uuid)</c>.</summary>
    public static string Of(string function)
    {
        var name = function.Split('(')[0].Split(' ')[0];
        return FileOfFunction.TryGetValue(name, out var file) ? file : "no schema file";
    }

    /// <summary><c>what</c>, followed by the file that defines its function.</summary>
    public static string Named(string function, string what) => $"{what} ({Of(function)})";
}
