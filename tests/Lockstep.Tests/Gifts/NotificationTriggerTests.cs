using Lockstep.Tests.Support;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>
/// Who each trigger notifies, as a table: steps run by K (claimer), A, B (members); D is a member who does
/// nothing; C is the celebrant, who is never notified about their own items. The item costs 100.00.
/// </summary>
public sealed class NotificationTriggerTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    public static TheoryData<string, string[], string[]> Cases => new()
    {
        { "full claim", ["K claim"], ["item_claimed:A", "item_claimed:B", "item_claimed:D"] },
        { "full unclaim", ["K claim", "K unclaim"], ["item_claimed:A", "item_claimed:B", "item_claimed:D"] },
        { "open split", ["K claim", "K split"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D"] },
        { "pledge", ["K claim", "K split", "A pledge 30"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D"] },
        { "funded by pledges", ["K claim", "K split", "A pledge 60", "B pledge 40", "K close"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D",
             "split_fully_funded:A", "split_fully_funded:B", "split_fully_funded:K"] },
        { "funded by close", ["K claim", "K split", "A pledge 30", "K close"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D",
             "split_fully_funded:A", "split_fully_funded:K"] },
        { "split canceled", ["K claim", "K split", "K unclaim"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D",
             "split_canceled:A", "split_canceled:B", "split_canceled:D"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Triggers_WhenStepsRun_NotifyExactlyTheRightMembers(string name, string[] steps, string[] expected)
    {
        var group = await GiftGroup.CreateAsync(db, others: 3);
        var roles = new Dictionary<string, Guid>
        {
            ["C"] = group.Celebrant, ["K"] = group.Claimer, ["A"] = group.Others[0], ["B"] = group.Others[1], ["D"] = group.Others[2],
        };
        var item = await group.AddItemAsync(db, 100.00m, name);

        foreach (var step in steps)
        {
            var parts = step.Split(' ');
            var sql = parts[1] switch
            {
                "claim" => "select public.claim_item($1)::text",
                "unclaim" => "select public.unclaim_item($1)::text",
                "split" => "select public.open_split($1)::text",
                "pledge" => $"select public.pledge_contribution($1, {parts[2]})::text",
                "close" => "select public.close_split($1)::text",
                _ => throw new ArgumentException(step),
            };
            AssertSuccess(await CallAsync(db, roles[parts[0]], sql, item));
        }

        var rows = await db.ScalarAsync<string[]>("""
            select coalesce(array_agg(n.type || ':' || n.recipient_id::text), '{}')
            from gifts.notifications n where (n.data ->> 'item_id')::uuid = $1
            """, item);
        var byRole = roles.ToDictionary(r => r.Value.ToString(), r => r.Key);
        var actual = rows.Select(r => r.Split(':')).Select(p => $"{p[0]}:{byRole[p[1]]}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected.Order(StringComparer.Ordinal).ToArray(), actual);
    }

    [Fact]
    public async Task Notifications_CarryTheItemAndTheClaimer()
    {
        var group = await GiftGroup.CreateAsync(db, others: 1);
        var item = await group.AddItemAsync(db, 20.00m, "Teapot");
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.claim_item($1)::text", item));

        var data = System.Text.Json.JsonDocument.Parse(await db.ScalarAsync<string>(
            "select data::text from gifts.notifications where recipient_id = $1", group.Others[0])).RootElement;

        Assert.Equal("item_claimed", data.GetProperty("type").GetString());
        Assert.Equal(item, data.GetProperty("item_id").GetGuid());
        Assert.Equal("Teapot", data.GetProperty("item_title").GetString());
        Assert.Equal(group.Claimer, data.GetProperty("claimer_id").GetGuid());
        Assert.Equal("Claire Claimer", data.GetProperty("claimer_name").GetString());
    }
}
