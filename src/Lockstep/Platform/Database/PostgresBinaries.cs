namespace Lockstep.Platform.Database;

/// <summary>Locates the machine's PostgreSQL server programs (initdb, pg_ctl, postgres).</summary>
public static class PostgresBinaries
{
    public static string Find(string? configuredBinDir)
    {
        if (!string.IsNullOrWhiteSpace(configuredBinDir))
        {
            return HasServer(configuredBinDir)
                ? configuredBinDir
                : throw new EmbeddedPostgresException(
                    $"Lockstep:Embedded:BinDir '{configuredBinDir}' holds no initdb/pg_ctl/postgres.");
        }

        var fromPgConfig = PgConfigBinDir();
        if (fromPgConfig is not null && HasServer(fromPgConfig))
        {
            return fromPgConfig;
        }

        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(dir => Path.Combine(dir, "bin"))
                .Where(HasServer)
                .OrderByDescending(dir => int.TryParse(Path.GetFileName(Path.GetDirectoryName(dir)), out var v) ? v : 0)
                .ToList()
            : [];
        return candidates.FirstOrDefault() ?? throw new EmbeddedPostgresException(
            "PostgreSQL server binaries not found (looked at pg_config --bindir and /usr/lib/postgresql/*/bin): "
            + "install them (apt-get install postgresql) or set ConnectionStrings__Lockstep to use a running server.");
    }

    private static bool HasServer(string dir) =>
        File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"))
        && File.Exists(Path.Combine(dir, "postgres"));

    private static string? PgConfigBinDir()
    {
        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("pg_config", "--bindir")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (process is null)
            {
                return null;
            }
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 && output.Length > 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // pg_config is not installed
        }
    }
}

/// <summary>A one-line, user-facing reason the embedded PostgreSQL could not be used.</summary>
public sealed class EmbeddedPostgresException(string message) : Exception(message);
