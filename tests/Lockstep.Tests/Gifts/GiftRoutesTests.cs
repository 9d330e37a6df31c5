using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>The Gifts routes and their /rest/v1/rpc twins: the flow, the celebrant's blindness, bad input, outsiders.</summary>
public sealed class GiftRoutesTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>Everything the Gifts tables hold for a workspace, to prove a refused request wrote nothing.</summary>
    private Task<string> RowsAsync(Guid workspace) => server.ScalarAsync<string>("""
        select (select count(*) from gifts.wishlists where workspace_id = $1) || '|' ||
               (select coalesce(string_agg(id || ':' || title || ':' || price || ':' || additional_costs, ',' order by id), '')
                from gifts.wishlist_items where workspace_id = $1) || '|' ||
               (select coalesce(string_agg(claimer_id || ':' || claim_type || ':' || amount, ',' order by claimer_id), '')
                from gifts.gift_claims where workspace_id = $1) || '|' ||
               (select count(*) from gifts.notifications where workspace_id = $1 and read_at is null)
        """, workspace);

    [Fact]
    public async Task SplitFlow_ThroughTheRoutes_AddsUpExactly()
    {
        var group = await GiftGroup.CreateAsync(server, others: 2);
        var celebrant = server.Client(group.Celebrant);
        var created = await celebrant.PostAsJsonAsync($"/api/workspaces/{group.Workspace}/wishlists", new { title = "Graduation" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var wishlist = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("wishlist_id").GetGuid();
        var added = await celebrant.PostAsJsonAsync($"/api/wishlists/{wishlist}/items",
            new { title = "Camera", price = 300.00m, link = "https://example.com/camera" });
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        var item = (await added.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("item_id").GetGuid();
        var claimer = server.Client(group.Claimer);

        Assert.Equal(HttpStatusCode.OK, (await claimer.PostAsync($"/api/wishlist-items/{item}/claim", null)).StatusCode);
        var opened = await claimer.PostAsJsonAsync($"/api/wishlist-items/{item}/split", new { additional_costs = 12.50m });
        Assert.Equal(312.50m, (await opened.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("total").GetDecimal());
        var pledge = await server.Client(group.Others[0]).PostAsJsonAsync($"/api/wishlist-items/{item}/pledges", new { amount = 100.25m });
        Assert.Equal(HttpStatusCode.OK, pledge.StatusCode);
        var share = await (await server.Client(group.Others[1]).GetAsync($"/api/wishlist-items/{item}/split/suggested-share"))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(212.25m, share.GetProperty("shares").EnumerateArray().Sum(s => s.GetProperty("amount").GetDecimal()));
        var closed = await (await claimer.PostAsync($"/api/wishlist-items/{item}/split/close", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(212.25m, closed.GetProperty("claimer_amount").GetDecimal());

        var status = await (await server.Client(group.Others[1]).GetAsync($"/api/wishlist-items/{item}/split")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(status.GetProperty("is_fully_funded").GetBoolean());
        Assert.Equal(312.50m, status.GetProperty("pledged").GetDecimal());
        var view = await (await server.Client(group.Others[1]).GetAsync($"/api/wishlists/{wishlist}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("fully_funded", view.GetProperty("items")[0].GetProperty("claim_state").GetString());
        var celebrantView = await (await celebrant.GetAsync($"/api/wishlists/{wishlist}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(celebrantView.GetProperty("items")[0].TryGetProperty("claim_state", out _));
        Assert.DoesNotContain(group.Claimer.ToString(), celebrantView.ToString());
        var list = await (await celebrant.GetAsync($"/api/workspaces/{group.Workspace}/wishlists")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, list.GetProperty("wishlists").GetArrayLength());
    }

    public static TheoryData<string, string, string?> CelebrantRoutes => new()
    {
        { "POST", "/api/wishlist-items/{item}/claim", null },
        { "POST", "/api/wishlist-items/{item}/pledges", """{"amount": 5.00}""" },
        { "GET", "/api/wishlist-items/{item}/split", null },
        { "GET", "/api/wishlist-items/{item}/split/suggested-share", null },
        { "DELETE", "/api/wishlist-items/{item}/claim", null },
        { "POST", "/api/wishlist-items/{item}/split", "{}" },
        { "POST", "/api/wishlist-items/{item}/split/close", null },
    };

    [Theory]
    [MemberData(nameof(CelebrantRoutes))]
    public async Task ItemRoutes_WhenCelebrant_Return403AndWriteNothing(string method, string path, string? body)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddSplitItemAsync(server, 50m);
        var before = await RowsAsync(group.Workspace);

        using var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{item}", item.ToString(), StringComparison.Ordinal))
        {
            Content = body is null ? null : Http.Json(body),
        };
        var response = await server.Client(group.Celebrant).SendAsync(request);

        await Http.AssertProblemAsync(response, HttpStatusCode.Forbidden, "celebrant_forbidden");
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Theory]
    [InlineData("claim_item", "{}")]
    [InlineData("pledge_contribution", """{"p_amount": 5.00}""")]
    [InlineData("get_split_status", "{}")]
    [InlineData("get_suggested_share", "{}")]
    [InlineData("unclaim_item", "{}")]
    [InlineData("open_split", """{"p_additional_costs": 1}""")]
    [InlineData("close_split", "{}")]
    public async Task Rpc_WhenCelebrant_IsRefused(string function, string extraArgs)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddSplitItemAsync(server, 50m);
        var before = await RowsAsync(group.Workspace);
        var args = JsonDocument.Parse(extraArgs).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object)p.Value);
        args["p_item_id"] = item;

        var response = await server.Client(group.Celebrant).PostAsJsonAsync($"/rest/v1/rpc/{function}", args);

        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("celebrant_forbidden", body.GetProperty("code").GetString());
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Fact]
    public async Task Rpc_WhenCelebrantListsTheWishlist_SeesNoClaimers()
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddSplitItemAsync(server, 50m);
        await CallAsync(server, group.Others[0], "select public.pledge_contribution($1, 5.00)", item);

        var response = await server.Client(group.Celebrant).PostAsJsonAsync("/rest/v1/rpc/get_wishlist", new { p_wishlist_id = group.Wishlist });

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(group.Claimer.ToString(), text);
        Assert.DoesNotContain(group.Others[0].ToString(), text);
        Assert.DoesNotContain("claim", text);
    }

    /// <summary>Every route, with a valid body where it takes one; {ws}, {wishlist}, {item} are filled in.</summary>
    public static TheoryData<string, string, string?> AllRoutes => new()
    {
        { "POST", "/api/workspaces/{ws}/wishlists", """{"title": "Mine"}""" },
        { "GET", "/api/workspaces/{ws}/wishlists", null },
        { "GET", "/api/wishlists/{wishlist}", null },
        { "POST", "/api/wishlists/{wishlist}/items", """{"title": "Kite", "price": 10}""" },
        { "POST", "/api/wishlist-items/{item}/claim", null },
        { "DELETE", "/api/wishlist-items/{item}/claim", null },
        { "POST", "/api/wishlist-items/{item}/split", """{"additional_costs": 1}""" },
        { "GET", "/api/wishlist-items/{item}/split", null },
        { "POST", "/api/wishlist-items/{item}/split/close", null },
        { "GET", "/api/wishlist-items/{item}/split/suggested-share", null },
        { "POST", "/api/wishlist-items/{item}/pledges", """{"amount": 1}""" },
    };

    [Theory]
    [MemberData(nameof(AllRoutes))]
    public async Task Routes_WhenOutsider_Return404AndWriteNothing(string method, string path, string? body)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddSplitItemAsync(server, 50m);
        var outsider = Guid.NewGuid();
        await CallAsync(server, outsider, "select public.create_workspace('Elsewhere')");
        var before = await RowsAsync(group.Workspace);

        using var request = new HttpRequestMessage(new HttpMethod(method), Fill(path, group, item)) { Content = body is null ? null : Http.Json(body) };
        var response = await server.Client(outsider).SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.EndsWith("_not_found", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Theory]
    [MemberData(nameof(AllRoutes))]
    public async Task Routes_WhenPathIdIsNotAUuid_Return400(string method, string path, string? body)
    {
        var group = await GiftGroup.CreateAsync(server);
        var before = await RowsAsync(group.Workspace);

        using var request = new HttpRequestMessage(new HttpMethod(method),
            path.Replace("{ws}", "abc", StringComparison.Ordinal).Replace("{wishlist}", "abc", StringComparison.Ordinal).Replace("{item}", "abc", StringComparison.Ordinal))
        {
            Content = body is null ? null : Http.Json(body),
        };
        var response = await server.Client(group.Others[0]).SendAsync(request);

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_parameter");
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    public static TheoryData<string, string, string> BadBodies()
    {
        var routes = new (string Path, string Field, string Valid, string WrongType)[]
        {
            ("/api/workspaces/{ws}/wishlists", "title", "\"Mine\"", "5"),
            ("/api/wishlists/{wishlist}/items", "price", "10", "\"ten\""),
            ("/api/wishlist-items/{item}/pledges", "amount", "1", "\"one\""),
            ("/api/wishlist-items/{item}/split", "additional_costs", "1", "true"),
        };
        var data = new TheoryData<string, string, string>();
        foreach (var (path, field, valid, wrong) in routes)
        {
            data.Add(path, "{\"" + field + "\": " + valid + ",", "invalid_json");
            data.Add(path, "{\"" + field + "\": " + wrong + "}", "invalid_field");
            data.Add(path, "{\"" + field + "\": " + valid + ", \"colour\": 1}", "unknown_field");
            if (field != "additional_costs")
            {
                data.Add(path, "{\"" + field + "\": null}", "field_required");
            }
        }
        data.Add("/api/wishlists/{wishlist}/items", """{"price": 10}""", "field_required");
        data.Add("/api/wishlist-items/{item}/pledges", "{}", "field_required");
        data.Add("/api/workspaces/{ws}/wishlists", "{}", "field_required");
        return data;
    }

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Routes_WhenBodyIsMalformed_Return400AndWriteNothing(string path, string body, string code)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddItemAsync(server, 50m);
        await CallAsync(server, group.Claimer, "select public.claim_item($1)", item);
        var before = await RowsAsync(group.Workspace);
        var caller = path.Contains("/split", StringComparison.Ordinal) ? group.Claimer
            : path.Contains("/items", StringComparison.Ordinal) ? group.Celebrant : group.Others[0];

        var response = await server.Client(caller).PostAsync(Fill(path, group, item), Http.Json(body));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Theory]
    [InlineData("/api/wishlist-items/{item}/pledges", """{"amount": 0}""", "invalid_amount")]
    [InlineData("/api/wishlist-items/{item}/pledges", """{"amount": 1.001}""", "invalid_amount")]
    [InlineData("/api/wishlist-items/{item}/pledges", """{"amount": 50.01}""", "amount_exceeds_remaining")]
    [InlineData("/api/wishlist-items/{item}/pledges", """{"amount": 1e20}""", "amount_too_large")]
    [InlineData("/api/wishlists/{wishlist}/items", """{"title": "Kite", "price": -1}""", "invalid_price")]
    [InlineData("/api/wishlists/{wishlist}/items", """{"title": "Kite", "price": 12.345}""", "invalid_price")]
    [InlineData("/api/wishlists/{wishlist}/items", """{"title": "Kite", "price": 1e20}""", "amount_too_large")]
    public async Task Routes_WhenValueBreaksARule_Return422AndWriteNothing(string path, string body, string code)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddSplitItemAsync(server, 50m);
        var before = await RowsAsync(group.Workspace);
        var caller = path.Contains("/items", StringComparison.Ordinal) ? group.Celebrant : group.Others[0];

        var response = await server.Client(caller).PostAsync(Fill(path, group, item), Http.Json(body));

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OpenSplit_WhenPriceAndCostsTogetherPassTheLargestAmount_RefusesAmountTooLargeAndWritesNothing(bool rpc)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddItemAsync(server, 9999999999.00m);
        await CallAsync(server, group.Claimer, "select public.claim_item($1)", item);
        var before = await RowsAsync(group.Workspace);
        var http = server.Client(group.Claimer);

        if (rpc)
        {
            var refusal = await (await http.PostAsJsonAsync("/rest/v1/rpc/open_split", new { p_item_id = item, p_additional_costs = 1.00m }))
                .Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("amount_too_large", refusal.GetProperty("code").GetString());
        }
        else
        {
            await Http.AssertProblemAsync(await http.PostAsync($"/api/wishlist-items/{item}/split", Http.Json("""{"additional_costs": 1.00}""")),
                HttpStatusCode.UnprocessableEntity, "amount_too_large");
        }
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("true")]
    public async Task OpenSplit_WhenTheBodyIsNotAnObject_Answers400AndOpensNothing(string body)
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddItemAsync(server, 40.00m);
        await CallAsync(server, group.Claimer, "select public.claim_item($1)", item);
        var before = await RowsAsync(group.Workspace);

        var response = await server.Client(group.Claimer).PostAsync($"/api/wishlist-items/{item}/split", Http.Json(body));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_body");
        Assert.Equal(before, await RowsAsync(group.Workspace));
    }

    [Fact]
    public async Task Routes_WhenRulesRefuse_AnswerConflictOrForbidden()
    {
        var group = await GiftGroup.CreateAsync(server);
        var item = await group.AddSplitItemAsync(server, 50m);
        await CallAsync(server, group.Others[0], "select public.pledge_contribution($1, 5.00)", item);

        await Http.AssertProblemAsync(await server.Client(group.Claimer).DeleteAsync($"/api/wishlist-items/{item}/claim"),
            HttpStatusCode.Conflict, "has_contributions");
        await Http.AssertProblemAsync(await server.Client(group.Others[0]).PostAsync($"/api/wishlist-items/{item}/split/close", null),
            HttpStatusCode.Forbidden, "claimer_only_forbidden");
        await Http.AssertProblemAsync(await server.Client(group.Others[0]).PostAsJsonAsync($"/api/wishlist-items/{item}/pledges", new { amount = 1 }),
            HttpStatusCode.Conflict, "already_pledged");
        await Http.AssertProblemAsync(await server.Client(group.Others[1]).PostAsync($"/api/wishlist-items/{item}/claim", null),
            HttpStatusCode.Conflict, "item_already_claimed");
    }

    private static string Fill(string path, GiftGroup group, Guid item) => path
        .Replace("{ws}", group.Workspace.ToString(), StringComparison.Ordinal)
        .Replace("{wishlist}", group.Wishlist.ToString(), StringComparison.Ordinal)
        .Replace("{item}", item.ToString(), StringComparison.Ordinal);
}
