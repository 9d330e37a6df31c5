using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Sessions;

/// <summary>The /api routes of packs and bookings, and use_session/release_session over /rest/v1/rpc.</summary>
public sealed class SessionEndpointTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    [Fact]
    public async Task PackRoutes_WhenAMemberSellsUsesAndReinstates_TheBalanceFollows()
    {
        var (owner, _, client) = await ClientAsync(server);
        var http = server.Client(owner);

        var created = await JsonAsync(await http.PostAsync($"/api/clients/{client}/purchases",
            Http.Json("""{"sessions_total": 2, "price": 120.50}""")), HttpStatusCode.Created);
        var pack = created.GetProperty("purchase_id").GetGuid();

        var used = await JsonAsync(await http.PostAsync($"/api/purchases/{pack}/use", null), HttpStatusCode.OK);
        Assert.Equal(1, used.GetProperty("purchase").GetProperty("sessions_used").GetInt32());
        await http.PostAsync($"/api/purchases/{pack}/use", null);
        await Http.AssertProblemAsync(await http.PostAsync($"/api/purchases/{pack}/use", null), HttpStatusCode.UnprocessableEntity, "sessions_exhausted");

        var reinstated = await JsonAsync(await http.PostAsync($"/api/purchases/{pack}/reinstate", null), HttpStatusCode.OK);
        Assert.Equal(1, reinstated.GetProperty("purchase").GetProperty("sessions_left").GetInt32());
        await http.PostAsync($"/api/purchases/{pack}/reinstate", null);
        await Http.AssertProblemAsync(await http.PostAsync($"/api/purchases/{pack}/reinstate", null), HttpStatusCode.UnprocessableEntity, "no_session_to_release");

        var list = await JsonAsync(await http.GetAsync($"/api/clients/{client}/purchases"), HttpStatusCode.OK);
        var only = Assert.Single(list.GetProperty("purchases").EnumerateArray());
        Assert.Equal(120.50m, only.GetProperty("price").GetDecimal());
        Assert.Equal(0, (await JsonAsync(await http.GetAsync($"/api/purchases/{pack}"), HttpStatusCode.OK)).GetProperty("purchase").GetProperty("sessions_used").GetInt32());
    }

    [Fact]
    public async Task BookingRoutes_WhenBookedCompletedAndCancelled_ConsumeOnceAndReinstate()
    {
        var (owner, workspace, client) = await ClientAsync(server, "Bea");
        var pack = await PackAsync(server, owner, client, 5);
        var http = server.Client(owner);
        var start = new DateTimeOffset(2031, 3, 4, 9, 0, 0, TimeSpan.FromHours(2));

        var booked = await JsonAsync(await http.PostAsJsonAsync($"/api/clients/{client}/bookings",
            new { starts_at = start, ends_at = start.AddHours(1), purchase_id = pack }), HttpStatusCode.OK);
        var booking = booked.GetProperty("booking_id").GetGuid();

        var completed = await JsonAsync(await http.PostAsync($"/api/bookings/{booking}/complete", null), HttpStatusCode.OK);
        Assert.True(completed.GetProperty("booking").GetProperty("session_consumed").GetBoolean());
        var again = await JsonAsync(await http.PostAsync($"/api/bookings/{booking}/complete", null), HttpStatusCode.OK);
        Assert.True(again.GetProperty("already").GetBoolean());
        Assert.Equal(1, await UsedAsync(server, pack));

        var calendar = await JsonAsync(await http.GetAsync(
            $"/api/workspaces/{workspace}/calendar?from=2031-03-04T00:00:00Z&to=2031-03-05T00:00:00Z"), HttpStatusCode.OK);
        var entry = Assert.Single(calendar.GetProperty("bookings").EnumerateArray());
        Assert.Equal("Bea", entry.GetProperty("client_name").GetString());
        Assert.Equal(4, entry.GetProperty("sessions_left").GetInt32());

        var cancelled = await JsonAsync(await http.PostAsync($"/api/bookings/{booking}/cancel", Http.Json("""{"reinstate": true}""")), HttpStatusCode.OK);
        Assert.True(cancelled.GetProperty("reinstated").GetBoolean());
        Assert.Equal(0, await UsedAsync(server, pack));
        await Http.AssertProblemAsync(await http.PostAsync($"/api/bookings/{booking}/no-show", null), HttpStatusCode.Conflict, "booking_not_scheduled");

        var second = await BookingAsync(server, owner, client, pack, start.AddDays(1));
        var noShow = await JsonAsync(await http.PostAsync($"/api/bookings/{second}/no-show", null), HttpStatusCode.OK);
        Assert.Equal("no_show", noShow.GetProperty("booking").GetProperty("status").GetString());
        var bookings = await JsonAsync(await http.GetAsync($"/api/clients/{client}/bookings"), HttpStatusCode.OK);
        Assert.Equal(2, bookings.GetProperty("bookings").GetArrayLength());
    }

    public static TheoryData<string, string, string?> OutsiderRoutes => new()
    {
        { "GET", "/api/clients/{client}/purchases", null },
        { "POST", "/api/clients/{client}/purchases", """{"sessions_total": 3}""" },
        { "GET", "/api/purchases/{pack}", null },
        { "POST", "/api/purchases/{pack}/use", null },
        { "POST", "/api/purchases/{pack}/reinstate", null },
        { "GET", "/api/clients/{client}/bookings", null },
        { "POST", "/api/clients/{client}/bookings", """{"starts_at": "2031-01-01T10:00:00Z", "ends_at": "2031-01-01T11:00:00Z"}""" },
        { "POST", "/api/bookings/{booking}/complete", null },
        { "POST", "/api/bookings/{booking}/cancel", """{"reinstate": true}""" },
        { "POST", "/api/bookings/{booking}/no-show", null },
        { "GET", "/api/workspaces/{workspace}/calendar?from=2020-01-01T00:00:00Z&to=2020-12-01T00:00:00Z", null },
    };

    [Theory]
    [MemberData(nameof(OutsiderRoutes))]
    public async Task Route_WhenTheCallerIsInAnotherWorkspace_Answers404AndWritesNothing(string method, string route, string? body)
    {
        var (owner, workspace, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 3);
        Assert.True(await server.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var booking = await BookingAsync(server, owner, client, pack, DateTimeOffset.UtcNow.AddDays(2));
        var (outsider, _, _) = await ClientAsync(server, "Other");
        var path = route.Replace("{client}", $"{client}").Replace("{pack}", $"{pack}")
            .Replace("{booking}", $"{booking}").Replace("{workspace}", $"{workspace}");

        var response = await server.Client(outsider).SendAsync(new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = body is null ? null : Http.Json(body),
        });

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.NotFound, response.StatusCode == HttpStatusCode.NotFound
            ? JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString()!
            : "?");
        Assert.EndsWith("_not_found", problem.GetProperty("code").GetString());
        Assert.Equal(1, await UsedAsync(server, pack));
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from sessions.purchases where client_id = $1", client));
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from sessions.bookings where client_id = $1", client));
        Assert.Equal("scheduled", await server.ScalarAsync<string>("select status from sessions.bookings where id = $1", booking));
    }

    public static TheoryData<string, string, string, string> BadInputs => new()
    {
        { "/api/clients/{client}/purchases", "{", "invalid_json", "" },
        { "/api/clients/{client}/purchases", """{"sessions_total": "ten"}""", "invalid_field", "sessions_total" },
        { "/api/clients/{client}/purchases", """{"price": 10}""", "field_required", "sessions_total" },
        { "/api/clients/{client}/purchases", """{"sessions_total": 3, "colour": "red"}""", "unknown_field", "colour" },
        { "/api/clients/{client}/bookings", """{"starts_at": "tomorrow", "ends_at": "2031-01-01T11:00:00Z"}""", "invalid_field", "starts_at" },
        { "/api/clients/{client}/bookings", """{"starts_at": "2031-01-01T10:00:00Z"}""", "field_required", "ends_at" },
        { "/api/clients/{client}/bookings", "[]", "invalid_body", "" },
        { "/api/bookings/{booking}/cancel", """{"reinstate": "yes"}""", "invalid_field", "reinstate" },
        { "/api/purchases/not-a-uuid/use", "", "invalid_parameter", "purchaseId" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Route_WhenTheInputIsMalformed_Answers400AndWritesNothing(string route, string body, string code, string field)
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 3);
        var booking = await BookingAsync(server, owner, client, pack, DateTimeOffset.UtcNow.AddDays(2));
        var path = route.Replace("{client}", $"{client}").Replace("{booking}", $"{booking}");

        var response = await server.Client(owner).PostAsync(path, body.Length == 0 ? null : Http.Json(body));

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        if (field.Length > 0)
        {
            Assert.Equal(field, problem.GetProperty("field").GetString());
        }
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from sessions.purchases where client_id = $1", client));
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from sessions.bookings where client_id = $1", client));
        Assert.Equal("scheduled", await server.ScalarAsync<string>("select status from sessions.bookings where id = $1", booking));
    }

    [Theory]
    [InlineData("""{"sessions_total": 0}""", "invalid_sessions_total")]
    [InlineData("""{"sessions_total": 5, "price": -1}""", "invalid_price")]
    [InlineData("""{"sessions_total": 5, "price": 12.345}""", "invalid_price")]
    [InlineData("""{"sessions_total": 5, "price": 9999999999.995}""", "invalid_price")]
    [InlineData("""{"sessions_total": 5, "price": 1e20}""", "amount_too_large")]
    [InlineData("""{"sessions_total": 5, "price": -1e20}""", "amount_too_large")]
    [InlineData("""{"sessions_total": 5, "price": 10000000000}""", "amount_too_large")]
    [InlineData("""{"sessions_total": 5, "expires_at": "2001-01-01T00:00:00Z"}""", "expires_in_past")]
    public async Task CreatePurchase_WhenTheValuesBreakARule_Answers422(string body, string code)
    {
        var (owner, _, client) = await ClientAsync(server);

        await Http.AssertProblemAsync(await server.Client(owner).PostAsync($"/api/clients/{client}/purchases", Http.Json(body)),
            HttpStatusCode.UnprocessableEntity, code);
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from sessions.purchases where client_id = $1", client));
    }

    [Theory]
    [InlineData("12.345", "invalid_price")]
    [InlineData("9999999999.995", "invalid_price")]
    [InlineData("\"NaN\"", "invalid_price")]
    [InlineData("1e20", "amount_too_large")]
    [InlineData("1e400", "amount_too_large")]
    [InlineData("\"Infinity\"", "amount_too_large")]
    public async Task CreatePurchase_ThroughRpc_WhenThePriceIsNotMoney_IsRefusedAndStoresNothing(string price, string code)
    {
        var (owner, _, client) = await ClientAsync(server);

        var response = await server.Client(owner).PostAsync("/rest/v1/rpc/create_purchase",
            Http.Json($$"""{"p_client_id": "{{client}}", "p_sessions_total": 5, "p_price": {{price}}}"""));

        var refusal = await JsonAsync(response, HttpStatusCode.OK);
        Assert.False(refusal.GetProperty("success").GetBoolean());
        Assert.Equal(code, refusal.GetProperty("code").GetString());
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from sessions.purchases where client_id = $1", client));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("{}")]
    public async Task CancelBooking_WhenTheBodyIsMissingOrEmpty_CancelsWithoutReinstating(string? body)
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 3);
        var booking = await BookingAsync(server, owner, client, pack, DateTimeOffset.UtcNow.AddDays(2));
        var http = server.Client(owner);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"/api/bookings/{booking}/complete", null)).StatusCode);

        var cancelled = await JsonAsync(await http.PostAsync($"/api/bookings/{booking}/cancel", body is null ? null : Http.Json(body)), HttpStatusCode.OK);

        Assert.Equal("cancelled", cancelled.GetProperty("booking").GetProperty("status").GetString());
        Assert.False(cancelled.GetProperty("reinstated").GetBoolean());
        Assert.Equal(1, await UsedAsync(server, pack));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("true")]
    public async Task CancelBooking_WhenTheBodyIsNotAnObject_Answers400AndKeepsTheBooking(string body)
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 3);
        var booking = await BookingAsync(server, owner, client, pack, DateTimeOffset.UtcNow.AddDays(2));

        var response = await server.Client(owner).PostAsync($"/api/bookings/{booking}/cancel", Http.Json(body));

        await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_body");
        Assert.Equal("scheduled", await server.ScalarAsync<string>("select status from sessions.bookings where id = $1", booking));
    }

    [Theory]
    [InlineData("?to=2031-01-01T00:00:00Z", "from")]
    [InlineData("?from=2031-01-01T00:00:00Z", "to")]
    [InlineData("", "from")]
    public async Task Calendar_WhenARangeParameterIsMissing_Answers400NamingIt(string query, string parameter)
    {
        var (owner, workspace, _) = await ClientAsync(server);

        var response = await server.Client(owner).GetAsync($"/api/workspaces/{workspace}/calendar{query}");

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.BadRequest, "parameter_required");
        Assert.Equal(parameter, problem.GetProperty("field").GetString());
        Assert.Contains($"'{parameter}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateBooking_WhenItEndsBeforeItStartsOrUsesAnotherClientsPack_IsRefused()
    {
        var (owner, workspace, client) = await ClientAsync(server);
        var other = await server.ScalarAsync<Guid>("insert into crm.clients (workspace_id, name) values ($1, 'Cy') returning id", workspace);
        var othersPack = await PackAsync(server, owner, other, 3);
        var http = server.Client(owner);

        await Http.AssertProblemAsync(await http.PostAsync($"/api/clients/{client}/bookings",
            Http.Json("""{"starts_at": "2031-01-01T11:00:00Z", "ends_at": "2031-01-01T10:00:00Z"}""")), HttpStatusCode.UnprocessableEntity, "invalid_booking_times");
        await Http.AssertProblemAsync(await http.PostAsync($"/api/clients/{client}/bookings",
            Http.Json($$"""{"starts_at": "2031-01-01T10:00:00Z", "ends_at": "2031-01-01T11:00:00Z", "purchase_id": "{{othersPack}}"}""")), HttpStatusCode.NotFound, "purchase_not_found");
        await Http.AssertProblemAsync(await http.GetAsync($"/api/workspaces/{workspace}/calendar?from=2031-01-02T00:00:00Z&to=2031-01-01T00:00:00Z"),
            HttpStatusCode.UnprocessableEntity, "invalid_range");
        await Http.AssertProblemAsync(await http.GetAsync($"/api/workspaces/{workspace}/calendar?from=soon&to=2031-01-01T00:00:00Z"),
            HttpStatusCode.BadRequest, "invalid_parameter");
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from sessions.bookings where client_id = $1", client));
    }

    [Fact]
    public async Task Rpc_UseAndReleaseSession_AnswerBareBooleansAndIntegers()
    {
        var (owner, _, client) = await ClientAsync(server);
        var pack = await PackAsync(server, owner, client, 1);
        var http = server.Client(owner);
        var args = Http.Json($$"""{"p_purchase_id": "{{pack}}"}""");

        var first = await http.PostAsync("/rest/v1/rpc/use_session", args);
        Assert.Equal("true", await first.Content.ReadAsStringAsync());
        var second = await http.PostAsync("/rest/v1/rpc/use_session", Http.Json($$"""{"p_purchase_id": "{{pack}}"}"""));
        Assert.Equal("false", await second.Content.ReadAsStringAsync());
        var released = await http.PostAsync("/rest/v1/rpc/release_session", Http.Json($$"""{"p_purchase_id": "{{pack}}"}"""));
        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        Assert.Equal("0", await released.Content.ReadAsStringAsync());

        var refused = await http.PostAsync("/rest/v1/rpc/release_session", Http.Json($$"""{"p_purchase_id": "{{pack}}"}"""));
        var error = await JsonAsync(refused, HttpStatusCode.BadRequest);
        Assert.Equal("P0001", error.GetProperty("code").GetString());
        Assert.Equal("no_session_to_release", error.GetProperty("hint").GetString());

        var (outsider, _, _) = await ClientAsync(server, "Other");
        var outside = server.Client(outsider);
        Assert.Equal("false", await (await outside.PostAsync("/rest/v1/rpc/use_session", Http.Json($$"""{"p_purchase_id": "{{pack}}"}"""))).Content.ReadAsStringAsync());
        Assert.True(await server.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var hidden = await JsonAsync(await outside.PostAsync("/rest/v1/rpc/release_session", Http.Json($$"""{"p_purchase_id": "{{pack}}"}""")), HttpStatusCode.BadRequest);
        Assert.Equal("purchase_not_found", hidden.GetProperty("hint").GetString());
        Assert.Equal(1, await UsedAsync(server, pack));
    }

    [Fact]
    public async Task OpenApi_ListsEverySessionsRoute()
    {
        var document = await (await server.Client().GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync();

        foreach (var name in new[] { "ListClientPurchases", "CreatePurchase", "GetPurchase", "UseSession", "ReinstateSession",
                     "ListClientBookings", "CreateBooking", "CompleteBooking", "CancelBooking", "MarkNoShow", "BookingCalendar",
                     "ListClientPurchasesInWorkspace", "CreatePurchaseInWorkspace", "GetPurchaseInWorkspace", "UseSessionInWorkspace",
                     "ReinstateSessionInWorkspace", "ListClientBookingsInWorkspace", "CreateBookingInWorkspace", "CompleteBookingInWorkspace",
                     "CancelBookingInWorkspace", "MarkNoShowInWorkspace" })
        {
            Assert.Contains($"\"operationId\": \"{name}\"", document);
        }
    }
}
