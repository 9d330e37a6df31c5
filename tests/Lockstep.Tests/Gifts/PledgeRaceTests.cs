using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>Pledges add up to the item's total exactly, under many concurrent pledgers.</summary>
[RunsOnCitus]
public sealed class PledgeRaceTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private Task<decimal> SumAsync(Guid item) =>
        db.ScalarAsync<decimal>("select coalesce(sum(amount), 0) from gifts.gift_claims where item_id = $1", item);

    private Task<long> MembersWithTwoRowsAsync(Guid item) =>
        db.ScalarAsync<long>("select count(*) from (select claimer_id from gifts.gift_claims where item_id = $1 group by claimer_id having count(*) > 1) t", item);

    [Fact]
    public async Task PledgeContribution_When50MembersPledgeAtOnce_NeverExceedsTheTotalAndCloseMakesItExact()
    {
        // 50 concurrent connections, each pledging 30.00 towards a 990.00 + 10.01 shipping item: 33 fit.
        var group = await GiftGroup.CreateAsync(db, others: 50);
        var item = await group.AddSplitItemAsync(db, 990.00m, 10.01m);

        var results = await db.RunAtOnceAsync(group.Others
            .Select(m => (m, "select public.pledge_contribution($1, $2)", new object?[] { item, 30.00m })).ToList());

        Assert.Equal(33, results.Count(r => r.GetProperty("success").GetBoolean()));
        Assert.All(results.Where(r => !r.GetProperty("success").GetBoolean()),
            r => Assert.Equal("amount_exceeds_remaining", r.GetProperty("code").GetString()));
        Assert.Equal(990.00m, await SumAsync(item));
        Assert.Equal(0L, await MembersWithTwoRowsAsync(item));

        AssertSuccess(await CallAsync(db, group.Claimer, "select public.close_split($1)", item));
        Assert.Equal(1000.01m, await SumAsync(item));
        Assert.Equal(10.01m, await db.ScalarAsync<decimal>(
            "select amount from gifts.gift_claims where item_id = $1 and claimer_id = $2", item, group.Claimer));
    }

    [Fact]
    public async Task PledgeContribution_When50PledgesWithCentsRaceTheRemainder_TheSumNeverPassesTheTotal()
    {
        // 50 concurrent connections, amounts 1.01..50.50 (sum 1287.75) towards a 500.00 item.
        var group = await GiftGroup.CreateAsync(db, others: 50);
        var item = await group.AddSplitItemAsync(db, 500.00m);

        var results = await db.RunAtOnceAsync(group.Others
            .Select((m, i) => (m, "select public.pledge_contribution($1, $2)", new object?[] { item, (i + 1) * 1.01m })).ToList());

        var sum = await SumAsync(item);
        Assert.True(sum <= 500.00m, $"pledged {sum} of 500.00");
        Assert.Equal(results.Where(r => r.GetProperty("success").GetBoolean()).Sum(r => r.GetProperty("amount").GetDecimal()), sum);
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.close_split($1)", item));
        Assert.Equal(500.00m, await SumAsync(item));
        AssertRefused(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 0.01)", item), "split_fully_funded");
    }

    [Fact]
    public async Task PledgeContribution_When25MembersEachPledgeTwiceAtOnce_EachHasOnePledge()
    {
        // 50 concurrent connections: every member sends two pledges at the same moment.
        var group = await GiftGroup.CreateAsync(db, others: 25);
        var item = await group.AddSplitItemAsync(db, 10000.00m);

        var results = await db.RunAtOnceAsync(group.Others
            .SelectMany(m => new[] { m, m })
            .Select(m => (m, "select public.pledge_contribution($1, 10.00)", new object?[] { item })).ToList());

        Assert.Equal(25, results.Count(r => r.GetProperty("success").GetBoolean()));
        Assert.All(results.Where(r => !r.GetProperty("success").GetBoolean()),
            r => Assert.Equal("already_pledged", r.GetProperty("code").GetString()));
        Assert.Equal(0L, await MembersWithTwoRowsAsync(item));
        Assert.Equal(250.00m, await SumAsync(item));
    }

    [Fact]
    public async Task ClaimItem_When50MembersClaimAtOnce_OneClaims()
    {
        // 50 concurrent connections claiming the same item.
        var group = await GiftGroup.CreateAsync(db, others: 50);
        var item = await group.AddItemAsync(db, 25.00m);

        var results = await db.RunAtOnceAsync(group.Others
            .Select(m => (m, "select public.claim_item($1)", new object?[] { item })).ToList());

        Assert.Equal(1, results.Count(r => r.GetProperty("success").GetBoolean()));
        Assert.Equal(49, results.Count(r => r.TryGetProperty("code", out var c) && c.GetString() == "item_already_claimed"));
        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from gifts.gift_claims where item_id = $1", item));
    }

    [Fact]
    public async Task PledgeAndUnclaim_WhenRacing_EitherThePledgeIsRefusedOrTheUnclaimIs()
    {
        // 20 items × (1 unclaim + 1 pledge) = 40 concurrent connections.
        var group = await GiftGroup.CreateAsync(db, others: 1);
        var items = new List<Guid>();
        for (var i = 0; i < 20; i++)
        {
            items.Add(await group.AddSplitItemAsync(db, 50.00m));
        }

        await db.RunAtOnceAsync(items.SelectMany(item => new[]
        {
            (group.Claimer, "select public.unclaim_item($1)", new object?[] { item }),
            (group.Others[0], "select public.pledge_contribution($1, 5.00)", new object?[] { item }),
        }).ToList());

        // No pledge may be left on an item without its claimer.
        Assert.Equal(0L, await db.ScalarAsync<long>("""
            select count(*) from gifts.gift_claims c
            where c.item_id = any($1) and not c.is_claimer
              and not exists (select 1 from gifts.gift_claims k where k.workspace_id = c.workspace_id and k.item_id = c.item_id and k.is_claimer)
            """, items.ToArray()));
    }
}
