using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>import_contacts straight through SQL: every row's answer for a large mixed file, and how it writes.</summary>
[RunsOnCitus]
public sealed class ContactImportTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    /// <summary>What one row must be answered: its outcome, a refusal code, and whose id it names.</summary>
    private sealed record Expected(string Outcome, string? Code = null, int? SameIdAsRow = null, int? PreExisting = null);

    private static Task<JsonElement> ImportAsync(DatabaseFixture db, Guid user, Guid workspace, JsonArray rows) =>
        db.CallAsync(user, "select public.import_contacts($1, $2::jsonb)", workspace, rows.ToJsonString());

    private static JsonObject Row(string? name, string? phone, string? email = null)
    {
        var row = new JsonObject();
        if (name is not null)
        {
            row["name"] = name;
        }
        if (phone is not null)
        {
            row["phone"] = phone;
        }
        if (email is not null)
        {
            row["email"] = email;
        }
        return row;
    }

    [Fact]
    public async Task ImportContacts_With1000MixedRows_AnswersEveryRowAndWritesWithoutASubtransactionPerRow()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var preExisting = new List<Guid>();
        for (var k = 0; k < 20; k++)
        {
            preExisting.Add((await db.CreateClientAsync(user, workspace, $"Before {k}", "Ann", $"+44 20 7946 {k:D4}")).Id("contact_id"));
        }

        // Rows are numbered from 1; each block of ten holds one of every kind of row.
        var rows = new JsonArray();
        var expected = new List<Expected>();
        void Add(JsonNode? row, Expected outcome)
        {
            rows.Add(row);
            expected.Add(outcome);
        }
        for (var block = 0; block < 100; block++)
        {
            var first = rows.Count + 1;
            Add(Row($"New {block}", $"+1 555 {block:D3} 0001", $"n{block}@example.test"), new("created"));
            Add(Row($"Twin {block}", $"001-555-{block:D3}-0001"), new("existing", SameIdAsRow: first));
            Add(Row($"Known {block}", $"0044 (20) 7946-{block % 20:D4}"), new("existing", PreExisting: block % 20));
            Add(block % 2 == 0 ? JsonValue.Create("not an object") : new JsonArray("Ann", "+15550100199"), new("rejected", "invalid_row"));
            Add(Row($"No phone {block}", block % 2 == 0 ? null : "   "), new("rejected", "phone_required"));
            Add(Row($"Bad phone {block}", $"call me {block}"), new("rejected", "invalid_phone"));
            Add(Row($"Bad email {block}", $"+1 555 {block:D3} 0002", "not-an-email"), new("rejected", "invalid_email"));
            // The same phone as the refused row above: the first acceptable spelling creates it.
            Add(Row($"Good email {block}", $"+1.555.{block:D3}.0002", $"g{block}@example.test"), new("created"));
            Add(Row(block % 2 == 0 ? null : "   ", $"+1 555 {block:D3} 0003"), new("rejected", "contact_name_required"));
            Add(Row(new string('x', 201), $"+1 555 {block:D3} 0004"), new("rejected", "contact_name_too_long"));
        }

        var result = await ImportAsync(db, user, workspace, rows);

        var answers = result.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(expected.Count, answers.Count);
        Assert.Equal(Enumerable.Range(1, expected.Count), answers.Select(a => a.GetProperty("row").GetInt32()));
        Assert.Equal(expected.Select(e => (e.Outcome, e.Code)),
            answers.Select(a => (a.GetProperty("outcome").GetString()!, a.TryGetProperty("code", out var code) ? code.GetString() : null)));
        Assert.All(answers.Where(a => a.GetProperty("outcome").GetString() == "rejected"),
            a => Assert.False(string.IsNullOrEmpty(a.GetProperty("error").GetString())));
        Assert.Equal(
            [expected.Count(e => e.Outcome == "created"), expected.Count(e => e.Outcome == "existing"), expected.Count(e => e.Outcome == "rejected")],
            new[] { "created", "existing", "rejected" }.Select(k => result.GetProperty(k).GetInt32()));
        for (var i = 0; i < expected.Count; i++)
        {
            if (expected[i].SameIdAsRow is { } row)
            {
                Assert.Equal(answers[row - 1].GetProperty("contact_id").GetGuid(), answers[i].GetProperty("contact_id").GetGuid());
            }
            if (expected[i].PreExisting is { } k)
            {
                Assert.Equal(preExisting[k], answers[i].GetProperty("contact_id").GetGuid());
            }
        }
        var created = answers.Where(a => a.GetProperty("outcome").GetString() == "created").Select(a => a.GetProperty("contact_id").GetGuid()).ToArray();
        Assert.Equal(created.Length, created.Distinct().Count());
        Assert.Equal(preExisting.Count + created.Length,
            await db.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace));
        // A row written inside a subtransaction carries that subtransaction's xid: one xid for all
        // of them means no row had a subtransaction of its own (past 64 of them every backend's
        // snapshots overflow their subxid cache and slow down).
        Assert.Equal(1L, await db.ScalarAsync<long>(
            "select count(distinct xmin::text) from crm.contacts where workspace_id = $1 and id = any($2)", workspace, created));
    }

    [Fact]
    public async Task ImportContacts_WhenTwoImportsOfOverlappingPhonesRunAtOnce_EachPhoneEndsUpOnce()
    {
        // 600 phones: the first import has 0–399, the second 200–599 in reverse order.
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);
        var one = new JsonArray(Enumerable.Range(0, 400).Select(i => (JsonNode)Row($"One {i}", $"+44 7700 {i:D6}")).ToArray());
        var two = new JsonArray(Enumerable.Range(200, 400).Reverse().Select(i => (JsonNode)Row($"Two {i}", $"0044 7700 {i:D6}")).ToArray());

        var results = await db.RunAtOnceAsync([
            (user, "select public.import_contacts($1, $2::jsonb)", [workspace, one.ToJsonString()]),
            (user, "select public.import_contacts($1, $2::jsonb)", [workspace, two.ToJsonString()]),
        ]);

        Assert.Equal(600L, await db.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace));
        Assert.Equal(600L, await db.ScalarAsync<long>("select count(distinct phone_e164) from crm.contacts where workspace_id = $1", workspace));
        Assert.Equal(600, results.Sum(r => r.GetProperty("created").GetInt32()));
        Assert.Equal(200, results.Sum(r => r.GetProperty("existing").GetInt32()));
        Assert.All(results, r => Assert.Equal(0, r.GetProperty("rejected").GetInt32()));
        // Both answers name the one contact of every shared phone.
        var idsOne = results[0].GetProperty("rows").EnumerateArray().Skip(200).Select(a => a.GetProperty("contact_id").GetGuid());
        var idsTwo = results[1].GetProperty("rows").EnumerateArray().Skip(200).Reverse().Select(a => a.GetProperty("contact_id").GetGuid());
        Assert.Equal(idsOne, idsTwo);
    }
}
