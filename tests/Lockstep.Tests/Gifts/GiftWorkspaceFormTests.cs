using Lockstep.Tests.Reliability;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>
/// The p_workspace_id forms of the wishlist and claim functions (claim_item(p_workspace_id, p_item_id), ...):
/// the same answers as the seed's id-only forms, and a row of another workspace answered as a missing one.
/// </summary>
public sealed class GiftWorkspaceFormTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private Task<string> TextAsync(Guid user, string sql, params object?[] args) => db.ScalarAsUserAsync<string>(user, sql, args);

    [Fact]
    public async Task ClaimsAndSplits_WhenBothFormsAlternate_AnswerAlike()
    {
        var group = await CreateAsync(db);
        var item = await group.AddItemAsync(db, 90.00m);
        var (w, claimer, giver, other) = (group.Workspace, group.Claimer, group.Others[0], group.Others[1]);

        AssertSuccess(await CallAsync(db, claimer, "select public.claim_item($1, $2)", w, item));
        Assert.Equal(await TextAsync(giver, "select public.claim_item($1)", item), await TextAsync(giver, "select public.claim_item($1, $2)", w, item));
        AssertSuccess(await CallAsync(db, claimer, "select public.unclaim_item($1)", item));
        AssertSuccess(await CallAsync(db, claimer, "select public.claim_item($1)", item));
        AssertSuccess(await CallAsync(db, claimer, "select public.open_split($1, $2, 10.00)", w, item));
        Assert.Equal(await TextAsync(claimer, "select public.open_split($1)", item), await TextAsync(claimer, "select public.open_split($1, $2)", w, item));

        AssertSuccess(await CallAsync(db, giver, "select public.pledge_contribution($1, $2, 30.00)", w, item));
        AssertSuccess(await CallAsync(db, other, "select public.pledge_contribution($1, 20.00)", item));
        Assert.Equal(await TextAsync(giver, "select public.pledge_contribution($1, 1.00)", item),
            await TextAsync(giver, "select public.pledge_contribution($1, $2, 1.00)", w, item));
        Assert.Equal(await TextAsync(giver, "select public.get_split_status($1)", item), await TextAsync(giver, "select public.get_split_status($1, $2)", w, item));
        Assert.Equal(await TextAsync(giver, "select public.get_suggested_share($1)", item), await TextAsync(giver, "select public.get_suggested_share($1, $2)", w, item));
        Assert.Equal(await TextAsync(group.Celebrant, "select public.get_split_status($1)", item),
            await TextAsync(group.Celebrant, "select public.get_split_status($1, $2)", w, item));

        var closed = await CallAsync(db, claimer, "select public.close_split($1, $2)", w, item);
        Assert.Equal(50.00m, closed.GetProperty("claimer_amount").GetDecimal());
        Assert.Equal(await TextAsync(claimer, "select public.close_split($1)", item), await TextAsync(claimer, "select public.close_split($1, $2)", w, item));
    }

    [Fact]
    public async Task Wishlists_WhenNamedWithTheirWorkspace_AnswerAsTheIdOnlyForms()
    {
        var group = await CreateAsync(db);
        var added = await CallAsync(db, group.Celebrant, "select public.add_wishlist_item($1, $2, 'Lamp', 40.00)", group.Workspace, group.Wishlist);
        AssertSuccess(added);
        await group.AddItemAsync(db, 12.50m, "Book");
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.claim_item($1, $2)", group.Workspace, added.GetProperty("item_id").GetGuid()));

        foreach (var user in new[] { group.Celebrant, group.Claimer })
        {
            Assert.Equal(await TextAsync(user, "select public.get_wishlist($1, 1)", group.Wishlist),
                await TextAsync(user, "select public.get_wishlist($1, $2, 1)", group.Workspace, group.Wishlist));
        }
        Assert.Equal(await TextAsync(group.Claimer, "select public.add_wishlist_item($1, 'Mine', 1.00)", group.Wishlist),
            await TextAsync(group.Claimer, "select public.add_wishlist_item($1, $2, 'Mine', 1.00)", group.Workspace, group.Wishlist));
    }

    /// <summary>The p_workspace_id form of each wishlist and claim function: $1 the workspace, $2 the id, then the rest.</summary>
    public static TheoryData<string> WorkspaceForms() =>
    [
        "select public.get_wishlist($1, $2)",
        "select public.add_wishlist_item($1, $2, 'Probe', 1.00)",
        "select public.claim_item($1, $2)",
        "select public.unclaim_item($1, $2)",
        "select public.open_split($1, $2, 1.00)",
        "select public.pledge_contribution($1, $2, 1.00)",
        "select public.close_split($1, $2)",
        "select public.get_split_status($1, $2)",
        "select public.get_suggested_share($1, $2)",
    ];

    [Theory]
    [MemberData(nameof(WorkspaceForms))]
    public async Task WorkspaceForm_WhenTheIdIsInAnotherWorkspaceOfTheCaller_AnswersAsForAMissingIdAndChangesNothing(string sql)
    {
        // The claimer also owns a second group: membership does not hide the row, only the workspace named.
        // The celebrant of the first one calls add_wishlist_item, everyone else's call is the claimer's.
        var group = await CreateAsync(db);
        var split = await group.AddSplitItemAsync(db, 60.00m);
        var caller = sql.Contains("add_wishlist_item", StringComparison.Ordinal) ? group.Celebrant : group.Claimer;
        var other = (await CallAsync(db, caller, "select public.create_workspace('Other group')")).GetProperty("workspace_id").GetGuid();
        var id = sql.Contains("wishlist", StringComparison.Ordinal) ? group.Wishlist : split;
        var before = await RouteWorld.SnapshotAsync(db);

        var foreign = await TextAsync(caller, sql, other, id);
        var missing = await TextAsync(caller, sql, other, Guid.NewGuid());

        Assert.Equal(missing, foreign);
        Assert.Contains("_not_found", foreign, StringComparison.Ordinal);
        Assert.Equal(before, await RouteWorld.SnapshotAsync(db));
    }
}
