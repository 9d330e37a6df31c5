using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lockstep.Tests.Gifts;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// Every answer that carries money writes each amount with exactly two decimals, on /api and on
/// /rest/v1/rpc, whatever the caller sent (120.5, 5, 0): read from the raw body, since a parsed number
/// loses its scale.
/// </summary>
public sealed partial class MoneyScaleTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [GeneratedRegex("\"(price|amount|additional_costs|total|pledged|remaining|claimer_amount|share)\"\\s*:\\s*([^,}\\]\\s]+)")]
    private static partial Regex MoneyField();

    [GeneratedRegex("^-?[0-9]+\\.[0-9]{2}$")]
    private static partial Regex TwoDecimals();

    private readonly HashSet<string> _seen = [];

    /// <summary>The route through /api, or its function through /rest/v1/rpc; asserts 2xx and two decimals on every amount.</summary>
    private async Task<JsonElement> CallAsync(Guid user, bool rpc, HttpMethod method, string path, string? body, string function, object args)
    {
        var http = server.Client(user);
        var response = rpc
            ? await http.PostAsJsonAsync($"/rest/v1/rpc/{function}", args)
            : await http.SendAsync(new HttpRequestMessage(method, path) { Content = body is null ? null : Http.Json(body) });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(rpc ? function : path)}: {(int)response.StatusCode} {text}");
        foreach (Match field in MoneyField().Matches(text))
        {
            var value = field.Groups[2].Value;
            Assert.True(value == "null" || TwoDecimals().IsMatch(value),
                $"{(rpc ? function : path)}: \"{field.Groups[1].Value}\" is {value}, not two decimals, in {text}");
            _seen.Add($"{function}.{field.Groups[1].Value}");
        }
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private void AssertSeen(params string[] fields) =>
        Assert.All(fields, field => Assert.Contains(field, _seen));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SessionPackAnswers_WhenPricesAreSentWithFewerDecimals_CarryTwo(bool rpc)
    {
        var (owner, _, client) = await ClientAsync(server);

        var sold = await CallAsync(owner, rpc, HttpMethod.Post, $"/api/clients/{client}/purchases", """{"sessions_total": 2, "price": 120.5}""",
            "create_purchase", new { p_client_id = client, p_sessions_total = 2, p_price = 120.5m });
        var pack = sold.GetProperty("purchase_id").GetGuid();
        await CallAsync(owner, rpc, HttpMethod.Post, $"/api/clients/{client}/purchases", """{"sessions_total": 1, "price": 0}""",
            "create_purchase", new { p_client_id = client, p_sessions_total = 1, p_price = 0 });
        await CallAsync(owner, rpc, HttpMethod.Get, $"/api/purchases/{pack}", null, "get_purchase", new { p_purchase_id = pack });
        await CallAsync(owner, rpc, HttpMethod.Get, $"/api/clients/{client}/purchases", null, "list_client_purchases", new { p_client_id = client });
        await CallAsync(owner, rpc, HttpMethod.Post, $"/api/purchases/{pack}/use", null, "consume_session", new { p_purchase_id = pack });
        await CallAsync(owner, rpc, HttpMethod.Post, $"/api/purchases/{pack}/reinstate", null, "reinstate_session", new { p_purchase_id = pack });

        AssertSeen("get_purchase.price", "list_client_purchases.price", "consume_session.price", "reinstate_session.price");
        Assert.Equal(["0.00", "120.50"], await server.ScalarAsync<string[]>(
            "select array_agg(price::text order by price) from sessions.purchases where client_id = $1", client));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GiftAnswers_WhenAmountsAreSentWithFewerDecimals_CarryTwo(bool rpc)
    {
        var group = await GiftGroup.CreateAsync(server, others: 2);
        var pledger = group.Others[0];
        var member = group.Others[1];
        async Task<Guid> AddAsync(string price) =>
            (await CallAsync(group.Celebrant, rpc, HttpMethod.Post, $"/api/wishlists/{group.Wishlist}/items", $$"""{"title": "Gift", "price": {{price}}}""",
                "add_wishlist_item", new { p_wishlist_id = group.Wishlist, p_title = "Gift", p_price = decimal.Parse(price, System.Globalization.CultureInfo.InvariantCulture) }))
            .GetProperty("item_id").GetGuid();
        Task ClaimAsync(Guid item) =>
            CallAsync(group.Claimer, rpc, HttpMethod.Post, $"/api/wishlist-items/{item}/claim", null, "claim_item", new { p_item_id = item });

        var split = await AddAsync("349.9");
        var full = await AddAsync("15.5");
        var costless = await AddAsync("20");
        await AddAsync("7");
        await ClaimAsync(split);
        await ClaimAsync(full);
        await ClaimAsync(costless);

        await CallAsync(group.Claimer, rpc, HttpMethod.Post, $"/api/wishlist-items/{split}/split", """{"additional_costs": 5}""",
            "open_split", new { p_item_id = split, p_additional_costs = 5 });
        await CallAsync(group.Claimer, rpc, HttpMethod.Post, $"/api/wishlist-items/{costless}/split", null, "open_split", new { p_item_id = costless });
        await CallAsync(pledger, rpc, HttpMethod.Post, $"/api/wishlist-items/{split}/pledges", """{"amount": 100.5}""",
            "pledge_contribution", new { p_item_id = split, p_amount = 100.5m });
        await CallAsync(member, rpc, HttpMethod.Get, $"/api/wishlist-items/{split}/split", null, "get_split_status", new { p_item_id = split });
        await CallAsync(member, rpc, HttpMethod.Get, $"/api/wishlist-items/{costless}/split", null, "get_split_status", new { p_item_id = costless });
        await CallAsync(member, rpc, HttpMethod.Get, $"/api/wishlist-items/{split}/split/suggested-share", null, "get_suggested_share", new { p_item_id = split });
        await CallAsync(member, rpc, HttpMethod.Get, $"/api/wishlists/{group.Wishlist}", null, "get_wishlist", new { p_wishlist_id = group.Wishlist });
        await CallAsync(group.Celebrant, rpc, HttpMethod.Get, $"/api/wishlists/{group.Wishlist}", null, "get_wishlist", new { p_wishlist_id = group.Wishlist });
        var closed = await CallAsync(group.Claimer, rpc, HttpMethod.Post, $"/api/wishlist-items/{split}/split/close", null, "close_split", new { p_item_id = split });

        AssertSeen("open_split.total", "open_split.additional_costs", "pledge_contribution.amount", "pledge_contribution.pledged",
            "pledge_contribution.remaining", "get_split_status.pledged", "get_split_status.amount", "get_suggested_share.share",
            "get_wishlist.price", "get_wishlist.pledged", "get_wishlist.remaining", "close_split.remaining", "close_split.claimer_amount");
        Assert.Equal(254.40m, closed.GetProperty("claimer_amount").GetDecimal());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AuditLogAnswers_WhenARowCarriesMoney_CarryTwoDecimals(bool rpc)
    {
        var (owner, workspace, client) = await ClientAsync(server);
        var sold = await CallAsync(owner, rpc, HttpMethod.Post, $"/api/clients/{client}/purchases", """{"sessions_total": 2, "price": 60}""",
            "create_purchase", new { p_client_id = client, p_sessions_total = 2, p_price = 60 });
        var pack = sold.GetProperty("purchase_id").GetGuid();

        await CallAsync(owner, rpc, HttpMethod.Get, $"/api/workspaces/{workspace}/audit?entity_table=sessions.purchases&entity_id={pack}", null,
            "get_audit_log", new { p_workspace_id = workspace, p_entity_table = "sessions.purchases", p_entity_id = pack.ToString() });

        AssertSeen("get_audit_log.price");
    }
}
