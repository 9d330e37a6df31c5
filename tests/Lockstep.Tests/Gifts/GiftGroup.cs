using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Gifts;

/// <summary>A gift group for one test: a workspace with a celebrant (owner), a claimer and other members, and a wishlist.</summary>
public sealed record GiftGroup(Guid Workspace, Guid Celebrant, Guid Claimer, Guid[] Others, Guid Wishlist)
{
    public static async Task<GiftGroup> CreateAsync(DatabaseFixture db, int others = 3)
    {
        var celebrant = Guid.NewGuid();
        var workspace = (await CallAsync(db, celebrant, "select public.create_workspace('Gift group')")).GetProperty("workspace_id").GetGuid();
        var claimer = Guid.NewGuid();
        var ids = Enumerable.Range(0, others).Select(_ => Guid.NewGuid()).ToArray();
        await CallAsync(db, celebrant, "select public.add_member($1, $2, 'member', 'Claire Claimer')", workspace, claimer);
        for (var i = 0; i < ids.Length; i++)
        {
            await CallAsync(db, celebrant, "select public.add_member($1, $2, 'member', $3)", workspace, ids[i], $"Member {i}");
        }
        var wishlist = (await CallAsync(db, celebrant, "select public.create_wishlist($1, 'Birthday')", workspace))
            .GetProperty("wishlist_id").GetGuid();
        return new GiftGroup(workspace, celebrant, claimer, ids, wishlist);
    }

    public async Task<Guid> AddItemAsync(DatabaseFixture db, decimal price, string title = "Bicycle") =>
        (await CallAsync(db, Celebrant, "select public.add_wishlist_item($1, $2, $3)", Wishlist, title, price))
            .GetProperty("item_id").GetGuid();

    /// <summary>An item the claimer claimed and split (with the given additional costs).</summary>
    public async Task<Guid> AddSplitItemAsync(DatabaseFixture db, decimal price, decimal additionalCosts = 0)
    {
        var item = await AddItemAsync(db, price);
        AssertSuccess(await CallAsync(db, Claimer, "select public.claim_item($1)", item));
        AssertSuccess(await CallAsync(db, Claimer, "select public.open_split($1, $2)", item, additionalCosts));
        return item;
    }

    public static async Task<JsonElement> CallAsync(DatabaseFixture db, Guid? user, string sql, params object?[] args) =>
        JsonDocument.Parse(await db.ScalarAsUserAsync<string>(user, sql, args)).RootElement.Clone();

    public static async Task<JsonElement> CallAsync(NpgsqlConnection connection, Guid? user, string sql, params object?[] args) =>
        JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(connection, user, sql, args)).RootElement.Clone();

    /// <summary>As <see cref="CallAsync(NpgsqlConnection, Guid?, string, object?[])"/>, inside <paramref name="transaction"/>, which it leaves open.</summary>
    public static async Task<JsonElement> CallAsync(NpgsqlTransaction transaction, Guid? user, string sql, params object?[] args) =>
        JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(transaction, user, sql, args)).RootElement.Clone();

    public static void AssertSuccess(JsonElement result) =>
        Assert.True(result.GetProperty("success").GetBoolean(), result.ToString());

    public static void AssertRefused(JsonElement result, string code)
    {
        Assert.False(result.GetProperty("success").GetBoolean(), result.ToString());
        Assert.Equal(code, result.GetProperty("code").GetString());
    }
}
