using System.Text.Json;
using System.Text.RegularExpressions;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>
/// The usual set-up in which the celebrant can be told who gives what: Cora creates "Family" (so she is
/// its owner) and a wishlist for her own birthday; three members claim, split, pledge, close and cancel
/// on it, with distinctive amounts. Ada, another member, has a wishlist too, on which Cora and Zelda
/// take part: what Cora may see. A client, pack, booking and lead give every other route a real row.
/// </summary>
public sealed record PrivacyWorld(
    Guid Workspace, Guid Celebrant, Guid Claimer, Guid Pledger, Guid FullClaimer, Guid Aunt,
    Guid OwnWishlist, Guid[] OwnItems, Guid AuntWishlist, Guid[] AuntItems,
    Guid Client, Guid Contact, Guid Purchase, Guid Booking, Guid Conversation,
    IReadOnlyList<(string Table, string Id)> ClaimDerived, Sentinels Sentinels)
{
    public static async Task<PrivacyWorld> PlantAsync(DatabaseFixture db)
    {
        Guid cora = Guid.NewGuid(), zelda = Guid.NewGuid(), piet = Guid.NewGuid(), fritz = Guid.NewGuid(), ada = Guid.NewGuid();
        var workspace = Id(await CallAsync(db, cora, "select public.create_workspace('Family')"), "workspace_id");
        foreach (var (user, role, name) in new[]
                 {
                     (zelda, "member", "Zelda Claimer"), (piet, "member", "Piet Pledger"), (fritz, "admin", "Fritz Fullclaimer"),
                     (ada, "member", "Ada Aunt"),
                 })
        {
            await Ok(db, cora, "select public.add_member($1, $2, $3, $4)", workspace, user, role, name);
        }

        var own = Id(await CallAsync(db, cora, "select public.create_wishlist($1, 'Cora turns forty')", workspace), "wishlist_id");
        var bicycle = await ItemAsync(db, cora, own, "Red Bicycle", 250.00m);
        var lamp = await ItemAsync(db, cora, own, "Reading Lamp", 61.00m);
        var kite = await ItemAsync(db, cora, own, "Stunt Kite", 90.00m);
        var drum = await ItemAsync(db, cora, own, "Snare Drum", 45.00m);
        var book = await ItemAsync(db, cora, own, "Atlas Book", 20.00m);

        // An open split: 250.00 + 4.87 = 254.87, of which Piet pledged 37.13, 217.74 remaining.
        await Ok(db, zelda, "select public.claim_item($1)", bicycle);
        await Ok(db, zelda, "select public.open_split($1, $2)", bicycle, 4.87m);
        await Ok(db, piet, "select public.pledge_contribution($1, $2)", bicycle, 37.13m);
        // A full claim.
        await Ok(db, fritz, "select public.claim_item($1)", lamp);
        // A closed split: Piet 21.21, Zelda covers 68.79.
        await Ok(db, zelda, "select public.claim_item($1)", kite);
        await Ok(db, zelda, "select public.open_split($1, 0)", kite);
        await Ok(db, piet, "select public.pledge_contribution($1, $2)", kite, 21.21m);
        await Ok(db, zelda, "select public.close_split($1)", kite);
        // A canceled split: 45.00 + 6.43 = 51.43, then withdrawn.
        await Ok(db, fritz, "select public.claim_item($1)", drum);
        await Ok(db, fritz, "select public.open_split($1, $2)", drum, 6.43m);
        await Ok(db, fritz, "select public.unclaim_item($1)", drum);
        // Members read their notifications: updates of rows that name the claimer.
        await Ok(db, piet, "select public.mark_all_notifications_read()");
        await Ok(db, ada, "select public.mark_all_notifications_read()");

        // Ada's wishlist: here Cora is a member like any other, and is told about it.
        var auntList = Id(await CallAsync(db, ada, "select public.create_wishlist($1, 'Ada retires')", workspace), "wishlist_id");
        var scarf = await ItemAsync(db, ada, auntList, "Ada Scarf", 30.00m);
        var teapot = await ItemAsync(db, ada, auntList, "Ada Teapot", 80.00m);
        await Ok(db, cora, "select public.claim_item($1)", scarf);
        await Ok(db, zelda, "select public.claim_item($1)", teapot);
        await Ok(db, zelda, "select public.open_split($1, 3.33)", teapot);
        await Ok(db, cora, "select public.pledge_contribution($1, 5.55)", teapot);

        var client = await CallAsync(db, cora,
            "select public.create_client_with_contact($1, 'Carl Client', 'Carl C', '+15550100311')", workspace);
        var clientId = Id(client, "client_id");
        var purchase = Id(await CallAsync(db, cora, "select public.create_purchase($1, 10, 100.00)", clientId), "purchase_id");
        var booking = Id(await CallAsync(db, cora,
            "select public.create_booking($1, now() + interval '2 days', now() + interval '2 days 1 hour', $2)", clientId, purchase), "booking_id");
        var lead = await CallAsync(db, cora, "select public.create_lead_with_conversation($1, '+15550100322', 'Lena Lead', 'inquiry')", workspace);

        var ownItems = new[] { bicycle, lamp, kite, drum, book };
        var claimDerived = await ClaimDerivedRowsAsync(db, workspace, ownItems);
        var sentinels = new Sentinels(
            Amounts: new Dictionary<string, string>
            {
                ["4.87"] = "the additional costs of Red Bicycle",
                ["254.87"] = "the total of Red Bicycle (price + additional costs)",
                ["37.13"] = "Piet's pledge to Red Bicycle",
                ["217.74"] = "what remains to pledge to Red Bicycle",
                ["21.21"] = "Piet's pledge to Stunt Kite",
                ["68.79"] = "Zelda's closing amount on Stunt Kite",
                ["6.43"] = "the additional costs of Snare Drum",
                ["51.43"] = "the total of Snare Drum",
            },
            Ids: IdsOf(claimDerived),
            Givers: new Dictionary<string, string>
            {
                [zelda.ToString()] = "Zelda's user id", ["Zelda Claimer"] = "Zelda's name",
                [piet.ToString()] = "Piet's user id", ["Piet Pledger"] = "Piet's name",
                [fritz.ToString()] = "Fritz's user id", ["Fritz Fullclaimer"] = "Fritz's name",
            },
            OwnItems: ownItems.Select(i => i.ToString()).Concat(["Red Bicycle", "Reading Lamp", "Stunt Kite", "Snare Drum", "Atlas Book"]).ToList());
        return new PrivacyWorld(workspace, cora, zelda, piet, fritz, ada, own, ownItems, auntList, [scarf, teapot],
            clientId, Id(client, "contact_id"), purchase, booking, Id(lead, "conversation_id"), claimDerived, sentinels);
    }

    /// <summary>Every claim row and notification that concerns these items (as the audit trail and the table hold them), read as the schema owner.</summary>
    public static async Task<List<(string Table, string Id)>> ClaimDerivedRowsAsync(DatabaseFixture db, Guid workspace, IEnumerable<Guid> items)
    {
        var rows = new List<(string, string)>();
        await using var command = db.DataSource.CreateCommand("""
            select distinct l.entity_table, l.entity_id from platform.audit_log l
            where l.workspace_id = $1 and l.entity_table = 'gifts.gift_claims'
              and coalesce(l.after, l.before) ->> 'item_id' = any($2)
            union
            select 'gifts.notifications', n.id::text from gifts.notifications n
            where n.workspace_id = $1 and n.data ->> 'item_id' = any($2)
            order by 1, 2
            """);
        command.Parameters.Add(new() { Value = workspace });
        command.Parameters.Add(new() { Value = items.Select(i => i.ToString()).ToArray() });
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1)));
        }
        return rows;
    }

    public static Dictionary<string, string> IdsOf(IEnumerable<(string Table, string Id)> rows) =>
        rows.ToDictionary(r => r.Id, r => $"the id of a {r.Table} row about the celebrant's item");

    public static async Task<Guid> ItemAsync(DatabaseFixture db, Guid user, Guid wishlist, string title, decimal price) =>
        Id(await CallAsync(db, user, "select public.add_wishlist_item($1, $2, $3)", wishlist, title, price), "item_id");

    public static async Task Ok(DatabaseFixture db, Guid user, string sql, params object?[] args) => AssertSuccess(await CallAsync(db, user, sql, args));

    private static Guid Id(JsonElement result, string key)
    {
        AssertSuccess(result);
        return result.GetProperty(key).GetGuid();
    }
}

/// <summary>
/// What the celebrant must never read: the amounts of claims and pledges and the costs and totals they
/// make, the ids of claim rows and of the notifications about them, and a giver named together with
/// one of the celebrant's items. Member lists may name every member; they name no item.
/// </summary>
public sealed partial record Sentinels(
    Dictionary<string, string> Amounts, Dictionary<string, string> Ids, Dictionary<string, string> Givers, List<string> OwnItems)
{
    public Sentinels With(Dictionary<string, string> amounts, Dictionary<string, string> ids, IEnumerable<string> ownItems) => new(
        Amounts.Concat(amounts).ToDictionary(), Ids.Concat(ids).ToDictionary(), Givers, [.. OwnItems, .. ownItems]);

    /// <summary>Every sentinel found in one answer, each named with <paramref name="where"/>.</summary>
    public List<string> Find(string where, string text)
    {
        var found = new List<string>();
        foreach (var (amount, meaning) in Amounts)
        {
            // Not part of a longer number, nor the seconds of a timestamp ("…:37.13+00:00").
            if (Regex.IsMatch(text, $@"(?<![\d.]){Regex.Escape(amount)}(?![\d+:Z-])"))
            {
                found.Add($"{where}: {amount} ({meaning})");
            }
        }
        found.AddRange(Ids.Where(i => text.Contains(i.Key, StringComparison.OrdinalIgnoreCase)).Select(i => $"{where}: {i.Key} ({i.Value})"));
        foreach (var record in Records(text))
        {
            var giver = Givers.FirstOrDefault(g => record.Any(s => s.Contains(g.Key, StringComparison.OrdinalIgnoreCase)));
            var item = OwnItems.FirstOrDefault(i => record.Any(s => s.Contains(i, StringComparison.OrdinalIgnoreCase)));
            if (giver.Key is not null && item is not null)
            {
                found.Add($"{where}: {giver.Value} together with the celebrant's item {item}");
            }
        }
        return found;
    }

    /// <summary>
    /// The records of an answer, each as its texts: a JSON object with what it holds (an array inside it
    /// starts records of its own, so a list of members or entries is not one record), or a whole page.
    /// </summary>
    private static List<List<string>> Records(string text)
    {
        var records = new List<List<string>>();
        try
        {
            using var json = JsonDocument.Parse(text);
            Split(json.RootElement, records);
        }
        catch (JsonException)
        {
            records.Add([text]);
        }
        return records;
    }

    private static void Split(JsonElement element, List<List<string>> records)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var child in element.EnumerateArray())
            {
                Split(child, records);
            }
            return;
        }
        var record = new List<string>();
        Collect(element, record, records);
        records.Add(record);
    }

    private static void Collect(JsonElement element, List<string> record, List<List<string>> records)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Collect(property.Value, record, records);
                }
                break;
            case JsonValueKind.Array:
                Split(element, records);
                break;
            case JsonValueKind.String:
                record.Add(element.GetString()!);
                break;
            default:
                record.Add(element.GetRawText());
                break;
        }
    }
}
