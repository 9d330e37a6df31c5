using Lockstep.Tests.Support;
using Npgsql;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>The claim, split and pledge rules of the SQL functions, one caller at a time.</summary>
[RunsOnCitus]
public sealed class ClaimRulesTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task ClaimItem_WhenCelebrant_IsRefused()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddItemAsync(db, 40m);

        AssertRefused(await CallAsync(db, group.Celebrant, "select public.claim_item($1)", item), "celebrant_forbidden");
        Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from gifts.gift_claims where item_id = $1", item));
    }

    [Theory]
    [InlineData("select public.pledge_contribution($1, 10.00)")]
    [InlineData("select public.get_split_status($1)")]
    [InlineData("select public.get_suggested_share($1)")]
    public async Task SplitFunctions_WhenCelebrant_AreRefused(string sql)
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m);

        AssertRefused(await CallAsync(db, group.Celebrant, sql, item), "celebrant_forbidden");
        Assert.Equal(0m, await db.ScalarAsync<decimal>("select sum(amount) from gifts.gift_claims where item_id = $1", item));
    }

    [Theory]
    [InlineData("select public.claim_item($1)")]
    [InlineData("select public.unclaim_item($1)")]
    [InlineData("select public.open_split($1)")]
    [InlineData("select public.pledge_contribution($1, 10.00)")]
    [InlineData("select public.close_split($1)")]
    [InlineData("select public.get_split_status($1)")]
    [InlineData("select public.get_suggested_share($1)")]
    public async Task ItemFunctions_WhenOutsider_AnswerItemNotFound(string sql)
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m);
        var outsider = Guid.NewGuid();
        await CallAsync(db, outsider, "select public.create_workspace('Elsewhere')");

        AssertRefused(await CallAsync(db, outsider, sql, item), "item_not_found");
        AssertRefused(await CallAsync(db, group.Others[0], sql, Guid.NewGuid()), "item_not_found");
        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from gifts.gift_claims where item_id = $1", item));
    }

    [Fact]
    public async Task GetWishlist_WhenCelebrant_ShowsNoClaimInformation()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m, 5m);
        AssertSuccess(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 10.00)", item));

        var celebrantView = await CallAsync(db, group.Celebrant, "select public.get_wishlist($1)", group.Wishlist);
        var memberView = await CallAsync(db, group.Others[1], "select public.get_wishlist($1)", group.Wishlist);

        var hidden = celebrantView.GetProperty("items")[0];
        Assert.Equal(["created_at", "item_id", "link", "notes", "price", "title"],
            hidden.EnumerateObject().Select(p => p.Name).Order().ToArray());
        var shown = memberView.GetProperty("items")[0];
        Assert.Equal("split_open", shown.GetProperty("claim_state").GetString());
        Assert.Equal(group.Claimer, shown.GetProperty("claimer_id").GetGuid());
        Assert.Equal(10.00m, shown.GetProperty("pledged").GetDecimal());
        Assert.Equal(35.00m, shown.GetProperty("remaining").GetDecimal());
    }

    [Fact]
    public async Task UnclaimItem_WhenOthersPledged_IsRefused()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m);
        AssertSuccess(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 10.00)", item));

        AssertRefused(await CallAsync(db, group.Claimer, "select public.unclaim_item($1)", item), "has_contributions");
        Assert.Equal(2L, await db.ScalarAsync<long>("select count(*) from gifts.gift_claims where item_id = $1", item));
    }

    [Fact]
    public async Task UnclaimItem_WhenNotTheClaimer_IsRefused()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddItemAsync(db, 40m);
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.claim_item($1)", item));

        AssertRefused(await CallAsync(db, group.Others[0], "select public.unclaim_item($1)", item), "claimer_only_forbidden");
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.unclaim_item($1)", item));
        Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from gifts.gift_claims where item_id = $1", item));
    }

    [Fact]
    public async Task UnclaimItem_WhenASplitWithAdditionalCostsIsWithdrawn_TheNextFullClaimIsThePrice()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m, 25m);

        AssertSuccess(await CallAsync(db, group.Claimer, "select public.unclaim_item($1)", item));
        AssertSuccess(await CallAsync(db, group.Others[0], "select public.claim_item($1)", item));

        Assert.Equal(40.00m, await db.ScalarAsync<decimal>("select amount from gifts.gift_claims where item_id = $1 and is_claimer", item));
        Assert.Equal(0m, await db.ScalarAsync<decimal>("select additional_costs from gifts.wishlist_items where id = $1", item));
    }

    [Fact]
    public async Task CloseSplit_WhenNotTheClaimer_IsRefused()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m);
        AssertSuccess(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 10.00)", item));

        AssertRefused(await CallAsync(db, group.Others[0], "select public.close_split($1)", item), "claimer_only_forbidden");
        AssertRefused(await CallAsync(db, group.Others[1], "select public.close_split($1)", item), "claimer_only_forbidden");
        Assert.Equal(10.00m, await db.ScalarAsync<decimal>("select sum(amount) from gifts.gift_claims where item_id = $1", item));
    }

    [Fact]
    public async Task DirectDelete_OfAContributorsPledge_IsRefusedByTheTrigger()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m);
        AssertSuccess(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 10.00)", item));

        await using var command = db.DataSource.CreateCommand("delete from gifts.gift_claims where item_id = $1 and claimer_id = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = item });
        command.Parameters.Add(new NpgsqlParameter { Value = group.Others[0] });
        var e = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());

        Assert.Equal(PostgresErrorCodes.RestrictViolation, e.SqlState);
        Assert.Equal("pledge_immutable", await db.ViolatedConstraintAsync(e));
        Assert.Equal(2L, await db.ScalarAsync<long>("select count(*) from gifts.gift_claims where item_id = $1", item));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1.00")]
    [InlineData("1.005")]
    public async Task PledgeContribution_WhenAmountIsNotMoney_IsRefused(string amount)
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m);

        AssertRefused(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, $2::numeric)", item, amount), "invalid_amount");
    }

    [Fact]
    public async Task PledgeContribution_WhenSplitIsNotOpen_IsRefused()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddItemAsync(db, 40m);
        AssertRefused(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 5)", item), "split_not_open");
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.claim_item($1)", item));
        AssertRefused(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 5)", item), "split_not_open");
    }

    [Fact]
    public async Task GetSuggestedShare_WhenTheRemainderDoesNotDivide_SharesAddUpExactly()
    {
        // Claimer + 3 members who can still pledge + 1 who pledged: 100.00 - 0.01 = 99.99 over 4 people.
        var group = await GiftGroup.CreateAsync(db, others: 4);
        var item = await group.AddSplitItemAsync(db, 99.00m, 1.00m);
        AssertSuccess(await CallAsync(db, group.Others[3], "select public.pledge_contribution($1, 0.01)", item));

        var share = await CallAsync(db, group.Others[0], "select public.get_suggested_share($1)", item);

        AssertSuccess(share);
        Assert.Equal(4, share.GetProperty("participants").GetInt32());
        Assert.Equal(24.99m, share.GetProperty("share").GetDecimal());
        Assert.Equal(3, share.GetProperty("remainder_cents").GetInt32());
        var amounts = share.GetProperty("shares").EnumerateArray().Select(s => s.GetProperty("amount").GetDecimal()).ToArray();
        Assert.Equal([25.00m, 25.00m, 25.00m, 24.99m], amounts);
        Assert.Equal(99.99m, amounts.Sum());
        Assert.Equal(group.Claimer, share.GetProperty("shares")[0].GetProperty("user_id").GetGuid());
    }

    [Fact]
    public async Task GetSplitStatus_WhenMember_ShowsContributorsAndRemainder()
    {
        var group = await GiftGroup.CreateAsync(db);
        var item = await group.AddSplitItemAsync(db, 40m, 2.50m);
        AssertSuccess(await CallAsync(db, group.Others[0], "select public.pledge_contribution($1, 10.00)", item));

        var status = await CallAsync(db, group.Others[1], "select public.get_split_status($1)", item);

        Assert.Equal(42.50m, status.GetProperty("total").GetDecimal());
        Assert.Equal(10.00m, status.GetProperty("pledged").GetDecimal());
        Assert.Equal(32.50m, status.GetProperty("remaining").GetDecimal());
        Assert.Equal(2, status.GetProperty("contributors").GetArrayLength());
        Assert.Equal("Member 0", status.GetProperty("contributors")[1].GetProperty("display_name").GetString());
    }

    [Fact]
    public async Task AddWishlistItem_WhenNotTheCelebrantOrBadPrice_IsRefused()
    {
        var group = await GiftGroup.CreateAsync(db);

        AssertRefused(await CallAsync(db, group.Claimer, "select public.add_wishlist_item($1, 'Kite', 10)", group.Wishlist), "celebrant_only_forbidden");
        AssertRefused(await CallAsync(db, group.Celebrant, "select public.add_wishlist_item($1, 'Kite', 0)", group.Wishlist), "invalid_price");
        AssertRefused(await CallAsync(db, group.Celebrant, "select public.add_wishlist_item($1, 'Kite', 1.999)", group.Wishlist), "invalid_price");
        AssertRefused(await CallAsync(db, group.Celebrant, "select public.add_wishlist_item($1, ' ', 10)", group.Wishlist), "item_title_required");
        Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from gifts.wishlist_items where wishlist_id = $1", group.Wishlist));
    }
}
