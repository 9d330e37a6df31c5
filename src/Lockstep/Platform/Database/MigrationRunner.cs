using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>One file of <c>db/migrations/</c>: its name (<c>NNNN_name.sql</c>) and text.</summary>
public sealed record Migration(string Name, string Sql)
{
    // Computed, not stored: a stored value would be copied unchanged by `with { Sql = ... }`.
    public string Checksum => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Sql))).ToLowerInvariant();

    /// <summary>The migrations built into this program from <c>db/migrations/*.sql</c>, in order.</summary>
    public static IReadOnlyList<Migration> BuiltIn { get; } = LoadBuiltIn();

    private static List<Migration> LoadBuiltIn()
    {
        var assembly = typeof(Migration).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith("migrations/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name => new Migration(name["migrations/".Length..], Read(assembly, name)))
            .ToList();
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}

/// <summary>An applied migration file was edited, or the database knows one this build does not.</summary>
public sealed class MigrationException(string message) : Exception(message);

/// <summary>
/// Applies migrations in order, each in its own transaction, recorded with a checksum in
/// <c>platform.schema_migrations</c>. A session advisory lock makes concurrent starts take turns,
/// so two servers starting on one empty database apply every file exactly once.
/// </summary>
public sealed class MigrationRunner(NpgsqlDataSource dataSource, IReadOnlyList<Migration> migrations)
{
    // Any constant works; it only has to be the same for every Lockstep process.
    private const long AdvisoryLockKey = 0x4c6f636b73746570; // "Lockstep"

    /// <summary>Applies what is missing and returns the names applied now.</summary>
    public async Task<IReadOnlyList<string>> ApplyAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, $"select pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, """
                create schema if not exists platform;
                create table if not exists platform.schema_migrations (
                  name text primary key,
                  checksum text not null,
                  applied_at timestamptz not null default now())
                """, cancellationToken);

            var applied = await ReadAppliedAsync(connection, cancellationToken);
            Verify(applied);

            var appliedNow = new List<string>();
            foreach (var migration in migrations.Where(m => !applied.ContainsKey(m.Name)))
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                try
                {
                    await ExecuteAsync(connection, migration.Sql, cancellationToken);
                }
                catch (PostgresException e)
                {
                    throw new MigrationException(
                        $"Migration {migration.Name} failed: {e.SqlState} {e.MessageText}{(e.Position > 0 ? $" (at character {e.Position})" : "")}");
                }
                await using (var record = new NpgsqlCommand(
                    "insert into platform.schema_migrations (name, checksum) values ($1, $2)", connection))
                {
                    record.Parameters.Add(new() { Value = migration.Name });
                    record.Parameters.Add(new() { Value = migration.Checksum });
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await transaction.CommitAsync(cancellationToken);
                appliedNow.Add(migration.Name);
            }
            return appliedNow;
        }
        finally
        {
            await ExecuteAsync(connection, $"select pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
        }
    }

    /// <summary>True when every migration of this build is applied (checksums are not compared here).</summary>
    public async Task<bool> IsCurrentAsync(CancellationToken cancellationToken = default)
    {
        var names = migrations.Select(m => m.Name).ToArray();
        try
        {
            // Through a function: the serving role cannot read platform.schema_migrations.
            return await CountAppliedAsync("select count(*) from platform.applied_migrations() as name where name = any($1)", names, cancellationToken)
                == migrations.Count;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedFunction or PostgresErrorCodes.InvalidSchemaName)
        {
            // A database (or a migration set) without that function: read the table, as its owner.
        }
        try
        {
            return await CountAppliedAsync("select count(*) from platform.schema_migrations where name = any($1)", names, cancellationToken)
                == migrations.Count;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            return false;
        }
    }

    private async Task<long> CountAppliedAsync(string sql, string[] names, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new() { Value = names });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private void Verify(Dictionary<string, string> applied)
    {
        var known = migrations.ToDictionary(m => m.Name);
        foreach (var (name, checksum) in applied.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            if (!known.TryGetValue(name, out var migration))
            {
                throw new MigrationException(
                    $"The database has migration {name} applied, which this build does not have: run a newer Lockstep.");
            }
            if (migration.Checksum != checksum)
            {
                throw new MigrationException(
                    $"Migration {name} was edited after it was applied (checksum {checksum[..12]} in the database, {migration.Checksum[..12]} in the file); "
                    + "restore the file and put the change in a new migration.");
            }
        }
    }

    private static async Task<Dictionary<string, string>> ReadAppliedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<string, string>();
        await using var command = new NpgsqlCommand("select name, checksum from platform.schema_migrations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            applied[reader.GetString(0)] = reader.GetString(1);
        }
        return applied;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
