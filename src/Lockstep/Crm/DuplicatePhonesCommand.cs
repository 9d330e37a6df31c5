using System.CommandLine;
using System.Text.RegularExpressions;
using Lockstep.Platform.Cli;
using Npgsql;

namespace Lockstep.Crm;

/// <summary>
/// <c>lockstep contacts duplicates</c>: phones that collide after normalisation, per workspace. It reads
/// the raw phone text (not the generated column), so it also works on a table imported from elsewhere
/// before unique_phone_workspace exists on it (<c>--table</c>, <c>--phone-column</c>, <c>--workspace-column</c>).
/// </summary>
public static partial class DuplicatePhonesCommand
{
    public static Command Create()
    {
        var table = new Option<string>("--table") { Description = "The table to scan, schema.table", DefaultValueFactory = _ => "crm.contacts" };
        var phone = new Option<string>("--phone-column") { Description = "Its phone column", DefaultValueFactory = _ => "phone" };
        var workspace = new Option<string>("--workspace-column") { Description = "Its workspace column", DefaultValueFactory = _ => "workspace_id" };
        var duplicates = new Command("duplicates", "List phones that would collide after normalisation to E.164, per workspace")
        {
            table, phone, workspace,
        };
        duplicates.SetAction((parse, cancellationToken) =>
        {
            var names = new[] { parse.GetValue(table)!, parse.GetValue(phone)!, parse.GetValue(workspace)! };
            if (!names.All(n => QualifiedName().IsMatch(n)))
            {
                Console.Error.WriteLine("lockstep: --table, --phone-column and --workspace-column take plain SQL names (letters, digits, _; schema.table)");
                return Task.FromResult(2);
            }
            return LockstepCli.WithDatabaseAsync(async (database, ct) =>
            {
                var groups = await FindAsync(database.OwnerDataSource, names[0], names[1], names[2], ct);
                Console.Write(Format(groups));
                return 0;
            }, cancellationToken);
        });
        return new Command("contacts", "CRM contacts") { duplicates };
    }

    public sealed record Collision(string Workspace, string Phone, bool Normalised, long Rows, string Spellings);

    /// <summary>
    /// Groups by workspace and the E.164 form; a phone that has none (no country code, letters) is keyed
    /// by its bare digits instead, so '555-0100' and '(555) 0100' still show up together.
    /// </summary>
    public static async Task<List<Collision>> FindAsync(
        NpgsqlDataSource dataSource, string table, string phoneColumn, string workspaceColumn, CancellationToken cancellationToken)
    {
        var sql = $"""
            select workspace::text, key, normalised, count(*), string_agg(distinct phone, ' | ' order by phone)
            from (
              select t.{Quote(workspaceColumn)} as workspace, t.{Quote(phoneColumn)}::text as phone,
                     crm.normalize_phone(t.{Quote(phoneColumn)}::text) is not null as normalised,
                     coalesce(crm.normalize_phone(t.{Quote(phoneColumn)}::text),
                              nullif(regexp_replace(t.{Quote(phoneColumn)}::text, '[^0-9]', '', 'g'), '')) as key
              from {string.Join('.', table.Split('.').Select(Quote))} t
            ) s
            where key is not null
            group by workspace, key, normalised
            having count(*) > 1
            order by workspace, key
            """;
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var found = new List<Collision>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(new Collision(reader.IsDBNull(0) ? "(none)" : reader.GetString(0), reader.GetString(1), reader.GetBoolean(2),
                reader.GetInt64(3), reader.GetString(4)));
        }
        return found;
    }

    public static string Format(IReadOnlyList<Collision> collisions)
    {
        if (collisions.Count == 0)
        {
            return "No phones collide after normalisation.\n";
        }
        string[] header = ["workspace", "phone", "rows", "spellings"];
        var rows = collisions.Select(c => new[]
        {
            c.Workspace, c.Normalised ? c.Phone : $"{c.Phone} (digits; no valid E.164 form)", c.Rows.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Spellings,
        }).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(i => rows.Select(r => r[i].Length).Append(header[i].Length).Max()).ToArray();
        var text = new System.Text.StringBuilder();
        void Line(string[] cells) => text.AppendLine(string.Join("  ", cells.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
        Line(header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        rows.ForEach(Line);
        text.AppendLine($"{collisions.Count} phone(s) shared by {collisions.Sum(c => c.Rows)} rows.");
        return text.ToString();
    }

    private static string Quote(string name) => '"' + name + '"';

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$")]
    private static partial Regex QualifiedName();
}
