using System.Text;

namespace Lockstep.Crm;

/// <summary>
/// Reads an import file: RFC 4180 CSV (commas, double-quoted fields with "" for a quote, CRLF or LF)
/// whose first line names the columns; name and phone are required, email optional, others ignored.
/// </summary>
public static class ContactCsv
{
    public sealed record Result(ImportRow[] Rows, string? Error);

    public static Result Parse(string text)
    {
        var records = Records(text.TrimStart('\uFEFF'));
        if (records.Error is not null)
        {
            return new Result([], records.Error);
        }
        if (records.Lines.Count == 0)
        {
            return new Result([], "The file is empty; its first line names the columns: name,phone,email");
        }
        var header = records.Lines[0].Select(h => h.Trim().ToLowerInvariant()).ToList();
        int name = header.IndexOf("name"), phone = header.IndexOf("phone"), email = header.IndexOf("email");
        if (name < 0 || phone < 0)
        {
            return new Result([], "The first line must name the columns, with at least name and phone (e.g. name,phone,email)");
        }
        var rows = records.Lines.Skip(1)
            .Where(fields => !(fields.Count == 1 && fields[0].Length == 0))
            .Select(fields => new ImportRow(Field(fields, name), Field(fields, phone), Field(fields, email)))
            .ToArray();
        return new Result(rows, null);
    }

    private static string? Field(List<string> fields, int index) =>
        index >= 0 && index < fields.Count && fields[index].Length > 0 ? fields[index] : null;

    private static (List<List<string>> Lines, string? Error) Records(string text)
    {
        var lines = new List<List<string>>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i += 2;
                    continue;
                }
                if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
                i++;
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0:
                    quoted = true;
                    break;
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    break;
                case '\r' or '\n':
                    fields.Add(field.ToString());
                    field.Clear();
                    lines.Add(fields);
                    fields = [];
                    if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                    {
                        i++;
                    }
                    break;
                default:
                    field.Append(c);
                    break;
            }
            i++;
        }
        if (quoted)
        {
            return (lines, $"A quoted field opened on line {lines.Count + 1} is never closed");
        }
        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            lines.Add(fields);
        }
        return (lines, null);
    }
}
