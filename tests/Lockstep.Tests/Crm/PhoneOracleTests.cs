using System.Text;
using Lockstep.Tests.Support;
using PhoneNumbers;
using Xunit.Abstractions;

namespace Lockstep.Tests.Crm;

/// <summary>
/// crm.normalize_phone against libphonenumber (a test-only oracle; the server has no numbering plans):
/// libphonenumber's example numbers for every region (fixed line and mobile) and every non-geographic
/// calling code, each written the ways people write numbers. Print the table's size and the deviations with
/// dotnet test Lockstep.slnx --filter "FullyQualifiedName~PhoneOracleTests" --logger "console;verbosity=detailed"
/// </summary>
[RunsOnCitus]
public sealed class PhoneOracleTests(DatabaseFixture db, ITestOutputHelper output) : IClassFixture<DatabaseFixture>
{
    private static readonly PhoneNumberUtil Util = PhoneNumberUtil.GetInstance();

    /// <summary>
    /// Separators libphonenumber does not take (it answers NOT_A_NUMBER) and crm.normalize_phone does, because
    /// they come with numbers copied from typeset text, spreadsheets and phones: for these the oracle is
    /// libphonenumber's reading of the same text with each of them written as an ASCII space.
    /// </summary>
    private static readonly Dictionary<char, string> SeparatorsOnlySqlTakes = new()
    {
        ['\u2007'] = "figure space",
        ['\u2009'] = "thin space",
        ['\u202F'] = "narrow no-break space (French typography)",
    };

    /// <summary>One way of writing one number; <paramref name="Kind"/> says which.</summary>
    private sealed record Spelling(string Number, string Kind, string Text, string Region);

    private static List<PhoneNumber> ExampleNumbers()
    {
        var numbers = new List<PhoneNumber>();
        foreach (var region in Util.GetSupportedRegions().Order(StringComparer.Ordinal))
        {
            var fixedLine = Util.GetExampleNumber(region);
            var mobile = Util.GetExampleNumberForType(region, PhoneNumberType.MOBILE);
            numbers.AddRange(new[] { fixedLine, mobile }.Where(n => n is not null));
        }
        numbers.AddRange(Util.GetSupportedGlobalNetworkCallingCodes().Order().Select(Util.GetExampleNumberForNonGeoEntity).Where(n => n is not null));
        return numbers.DistinctBy(n => Util.Format(n, PhoneNumberFormat.E164)).ToList();
    }

    private static IEnumerable<Spelling> Spellings(PhoneNumber number)
    {
        var e164 = Util.Format(number, PhoneNumberFormat.E164);
        var cc = number.CountryCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nsn = Util.GetNationalSignificantNumber(number);
        // The digit groups of libphonenumber's international format, e.g. "+44 121 234 5678" → 121, 234, 5678.
        var groups = Util.Format(number, PhoneNumberFormat.INTERNATIONAL)[(cc.Length + 1)..]
            .Split(new[] { ' ', '-', '(', ')', '.', '/' }, StringSplitOptions.RemoveEmptyEntries);
        if (string.Concat(groups) != nsn)
        {
            groups = [nsn];
        }
        string Spaced(string separator) => string.Join(separator, groups);
        Spelling Plus(string kind, string text) => new(e164, kind, text, "ZZ");
        // '00' is an international prefix only where a region dials it: read as from Germany.
        Spelling Zero(string kind, string text) => new(e164, kind, text, "DE");

        yield return Plus("E.164", e164);
        yield return Plus("international, spaces", $"+{cc} {Spaced(" ")}");
        yield return Plus("dashes", $"+{cc}-{Spaced("-")}");
        yield return Plus("dots", $"+{cc}.{Spaced(".")}");
        if (groups.Length > 1)
        {
            yield return Plus("slash", $"+{cc} {groups[0]}/{string.Concat(groups[1..])}");
            yield return Plus("parentheses", $"+{cc} ({groups[0]}) {string.Join(" ", groups[1..])}");
        }
        yield return Plus("padded", $"  +{cc} {Spaced(" ")}\t");
        yield return Zero("00", $"00{cc} {Spaced(" ")}");
        yield return Zero("00, spaced", $"00 {cc} {Spaced(" ")}");
        yield return Zero("00, compact", $"00{cc}{nsn}");
        // Where this number is dialled at home with the trunk prefix 0 (not every number of such a country is).
        if (new string(Util.Format(number, PhoneNumberFormat.NATIONAL).Where(char.IsAsciiDigit).ToArray()) == "0" + nsn)
        {
            yield return Plus("(0) trunk", $"+{cc} (0){Spaced(" ")}");
            yield return Plus("(0) trunk, spaced", $"+{cc} (0) {Spaced(" ")}");
            yield return Plus("(0) trunk, compact", $"+{cc}(0){nsn}");
            yield return Zero("(0) trunk after 00", $"00{cc} (0) {Spaced(" ")}");
        }
        yield return Plus("no-break spaces", $"+{cc}\u00A0{Spaced("\u00A0")}");
        yield return Plus("ideographic spaces", $"+{cc}\u3000{Spaced("\u3000")}");
        yield return Plus("zero-width spaces", $"+{cc}\u200B{Spaced("\u200B")}");
        yield return Plus("embedding marks (copied from an Android contact)", $"\u202A+{cc} {Spaced(" ")}\u202C");
        yield return Plus("left-to-right mark", $"\u200E+{cc} {Spaced(" ")}");
        yield return Plus("byte order mark (a file's first cell)", $"\uFEFF+{cc} {Spaced(" ")}");
        foreach (var (separator, name) in SeparatorsOnlySqlTakes)
        {
            yield return Plus(name, $"+{cc}{separator}{Spaced(separator.ToString())}");
        }
        // Refused by both: a country code never starts with 0.
        yield return new(e164, "+00 (refused)", $"+00{cc} {Spaced(" ")}", "ZZ");
        yield return new(e164, "+0 (refused)", $"+0{cc}{nsn}", "ZZ");
    }

    private static string? Libphonenumber(string text, string region)
    {
        try
        {
            return Util.Format(Util.Parse(text, region), PhoneNumberFormat.E164);
        }
        catch (NumberParseException)
        {
            return null;
        }
    }

    [Fact]
    public async Task NormalizePhone_OverExampleNumbersOfEveryRegionInManySpellings_AgreesWithLibphonenumber()
    {
        var numbers = ExampleNumbers();
        var spellings = numbers.SelectMany(Spellings).ToList();

        var sql = await db.ScalarAsync<string?[]>(
            "select array_agg(crm.normalize_phone(u.phone) order by u.i) from unnest($1::text[]) with ordinality as u(phone, i)",
            // One argument: a bare string[] would be taken for the params array of arguments itself.
            (object)spellings.Select(s => s.Text).ToArray());

        var disagreements = new List<(string Kind, string Line)>();
        var oracleReadsOtherwise = new List<string>();
        var deviations = new Dictionary<string, int>();
        for (var i = 0; i < spellings.Count; i++)
        {
            var spelling = spellings[i];
            var oracle = Libphonenumber(spelling.Text, spelling.Region);
            if (oracle is null && spelling.Text.Any(SeparatorsOnlySqlTakes.ContainsKey))
            {
                oracle = Libphonenumber(new string(spelling.Text.Select(c => SeparatorsOnlySqlTakes.ContainsKey(c) ? ' ' : c).ToArray()), spelling.Region);
                Count(deviations, $"libphonenumber refuses the {spelling.Kind}: compared with its reading of the text with ASCII spaces");
            }
            var expected = spelling.Kind.EndsWith("(refused)", StringComparison.Ordinal) ? null : spelling.Number;
            if (oracle != expected)
            {
                oracleReadsOtherwise.Add($"{Show(spelling.Text)} [{spelling.Kind}]: libphonenumber {oracle ?? "refuses"}, the example is {expected ?? "refused"}");
            }
            if (sql[i] is null && oracle is not null && oracle.Length - 1 < 8)
            {
                // Rule 6 keeps 8 to 15 digits; Niue, Tokelau and Tristan da Cunha have 4-digit national numbers.
                Count(deviations, $"SQL refuses {oracle}, of 7 digits in all (rule 6: 8 to 15)");
            }
            else if (sql[i] != oracle)
            {
                disagreements.Add((spelling.Kind, $"{Show(spelling.Text)} [{spelling.Kind}]: SQL {sql[i] ?? "refuses"}, libphonenumber {oracle ?? "refuses"}"));
            }
        }
        var oneValuePerNumber = spellings.Select((s, i) => (s.Number, Value: sql[i]))
            .Where(x => x.Value is not null)
            .GroupBy(x => x.Number)
            .Where(g => g.Select(x => x.Value).Distinct().Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Value).Distinct())}")
            .ToList();

        output.WriteLine($"{numbers.Count} example numbers ({Util.GetSupportedRegions().Count} regions, "
            + $"{Util.GetSupportedGlobalNetworkCallingCodes().Count} non-geographic codes), {spellings.Count} spellings of {spellings.Select(s => s.Kind).Distinct().Count()} kinds");
        foreach (var (deviation, count) in deviations.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"deviation: {deviation}: {count} spellings");
        }
        var failures = new StringBuilder();
        if (oracleReadsOtherwise.Count > 0)
        {
            failures.AppendLine($"libphonenumber reads {oracleReadsOtherwise.Count} spellings otherwise than as their example (the table is wrong):")
                .AppendJoin('\n', oracleReadsOtherwise.Take(20)).AppendLine();
        }
        if (disagreements.Count > 0)
        {
            failures.AppendLine($"{disagreements.Count} of {spellings.Count} spellings disagree with libphonenumber: "
                    + string.Join(", ", disagreements.GroupBy(d => d.Kind).Select(g => $"{g.Key} {g.Count()}")))
                .AppendJoin('\n', disagreements.DistinctBy(d => d.Kind).Select(d => d.Line)).AppendLine();
        }
        if (oneValuePerNumber.Count > 0)
        {
            failures.AppendLine($"{oneValuePerNumber.Count} numbers get different values from their spellings:").AppendJoin('\n', oneValuePerNumber.Take(10));
        }
        Assert.True(failures.Length == 0, failures.ToString());
    }

    private static void Count(Dictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    private static string Show(string text)
    {
        var shown = new StringBuilder("'");
        foreach (var c in text)
        {
            shown.Append(c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}");
        }
        return shown.Append('\'').ToString();
    }
}
