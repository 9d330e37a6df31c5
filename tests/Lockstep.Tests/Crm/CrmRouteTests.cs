using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>The CRM routes over HTTP: happy paths, refusals as problems, outsiders, malformed bodies.</summary>
public sealed class CrmRouteTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private sealed record Setup(Guid Owner, Guid Workspace, Guid ClientId, Guid ContactId);

    private async Task<Setup> WorkspaceWithClientAsync()
    {
        var owner = Guid.NewGuid();
        var workspace = await server.WorkspaceAsync(owner);
        var created = await server.Client(owner).PostAsJsonAsync($"/api/workspaces/{workspace}/clients",
            new { client_name = "Acme", contact_name = "Ann", contact_phone = "+1 (555) 010-0199" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        return new Setup(owner, workspace, body.GetProperty("client_id").GetGuid(), body.GetProperty("contact_id").GetGuid());
    }

    private Task<string> RowsAsync(Guid workspace) => server.ScalarAsync<string>("""
        select (select count(*) from crm.clients where workspace_id = $1) || '/' ||
               (select coalesce(string_agg(id || ':' || is_primary || ':' || coalesce(phone, ''), ',' order by id), '')
                from crm.contacts where workspace_id = $1)
        """, workspace);

    /// <summary>Every CRM route: method, path under the workspace, and a valid body (null: none).</summary>
    public static TheoryData<string, string, string?, string> Routes() => new()
    {
        { "POST", "clients", """{"client_name": "X", "contact_name": "Y", "contact_phone": "+15550100111"}""", "application/json" },
        { "GET", "clients", null, "" },
        { "GET", "clients?search=555", null, "" },
        { "GET", "clients/{client}", null, "" },
        { "POST", "clients/{client}/contacts", """{"name": "Y", "phone": "+15550100111", "is_primary": true}""", "application/json" },
        { "PUT", "clients/{client}/primary-contact", """{"contact_id": "{contact}"}""", "application/json" },
        { "POST", "contacts", """{"name": "Y", "phone": "+15550100111"}""", "application/json" },
        { "POST", "contacts:upsert", """{"phone": "+15550100111", "name": "Y"}""", "application/json" },
        { "POST", "contacts:import", """[{"name": "Y", "phone": "+15550100111"}]""", "application/json" },
        { "POST", "contacts:import", "name,phone\nY,+15550100111\n", "text/csv" },
    };

    private static HttpRequestMessage Request(string method, string path, string? body, string contentType, Setup setup) =>
        new(new HttpMethod(method), $"/api/workspaces/{setup.Workspace}/{path.Replace("{client}", setup.ClientId.ToString())}")
        {
            Content = body is null ? null : Http.Json(body.Replace("{contact}", setup.ContactId.ToString()), contentType),
        };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Route_WhenCallerIsAMemberOfAnotherWorkspace_Answers404AndWritesNothing(string method, string path, string? body, string contentType)
    {
        var setup = await WorkspaceWithClientAsync();
        var outsider = Guid.NewGuid();
        await server.WorkspaceAsync(outsider);
        var before = await RowsAsync(setup.Workspace);

        var response = await server.Client(outsider).SendAsync(Request(method, path, body, contentType, setup));

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.NotFound,
            path is "clients/{client}" or "clients/{client}/primary-contact" ? "client_not_found" : "workspace_not_found");
        Assert.False(problem.TryGetProperty("contact_id", out _));
        Assert.Equal(before, await RowsAsync(setup.Workspace));
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Route_WhenCallerIsAMember_Succeeds(string method, string path, string? body, string contentType)
    {
        var setup = await WorkspaceWithClientAsync();

        var response = await server.Client(setup.Owner).SendAsync(Request(method, path, body, contentType, setup));

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    public static TheoryData<string, string> BadBodies() => new()
    {
        { "clients", """{"client_name": "X", "contact_name": """ },
        { "clients", """{"client_name": 5, "contact_name": "Y"}""" },
        { "clients", """{"contact_name": "Y"}""" },
        { "clients", """{"client_name": "X", "contact_name": "Y", "colour": "red"}""" },
        { "clients/{client}/contacts", """{"name": "Y", "is_primary": "yes"}""" },
        { "clients/{client}/contacts", """{"phone": "+15550100111"}""" },
        { "contacts", """{"name": null}""" },
        { "contacts:upsert", """{"phone": "+15550100111"}""" },
        { "contacts:upsert", """{"phone": 15550100111, "name": "Y"}""" },
        { "contacts:import", """[{"name": "Y", "phone": "+15550100111"}""" },
        { "contacts:import", """{"name": "Y", "phone": "+15550100111"}""" },
        { "contacts:import", """[{"name": "Y", "phone": 15550100111}]""" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Route_WhenTheBodyIsMalformed_Answers400AndWritesNothing(string path, string body)
    {
        var setup = await WorkspaceWithClientAsync();
        var before = await RowsAsync(setup.Workspace);

        var response = await server.Client(setup.Owner).SendAsync(Request("POST", path, body, "application/json", setup));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(before, await RowsAsync(setup.Workspace));
    }

    [Fact]
    public async Task SetPrimaryContact_WhenTheContactIdIsNotAUuid_Answers400()
    {
        var setup = await WorkspaceWithClientAsync();

        var response = await server.Client(setup.Owner).SendAsync(Request("PUT", "clients/{client}/primary-contact", """{"contact_id": "x"}""", "application/json", setup));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task CreateClient_WhenThePhoneIsTaken_Answers409WithTheExistingContact()
    {
        var setup = await WorkspaceWithClientAsync();

        var response = await server.Client(setup.Owner).PostAsJsonAsync($"/api/workspaces/{setup.Workspace}/clients",
            new { client_name = "Other", contact_name = "Bob", contact_phone = "001 555 010 0199" });

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.Conflict, "phone_taken");
        Assert.Equal(setup.ContactId, problem.GetProperty("contact_id").GetGuid());
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", setup.Workspace));
    }

    [Fact]
    public async Task CreateClient_WhenThePhoneIsInvalid_Answers422()
    {
        var setup = await WorkspaceWithClientAsync();

        var response = await server.Client(setup.Owner).PostAsJsonAsync($"/api/workspaces/{setup.Workspace}/clients",
            new { client_name = "Other", contact_name = "Bob", contact_phone = "call me" });

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_phone");
    }

    [Fact]
    public async Task GetClient_ReturnsAllContactsPrimaryFirst()
    {
        var setup = await WorkspaceWithClientAsync();
        var client = server.Client(setup.Owner);
        var added = await client.PostAsJsonAsync($"/api/workspaces/{setup.Workspace}/clients/{setup.ClientId}/contacts",
            new { name = "Bob", phone = "+44 20 7946 0000", is_primary = true });
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);

        var detail = await client.GetFromJsonAsync<JsonElement>($"/api/workspaces/{setup.Workspace}/clients/{setup.ClientId}");

        var contacts = detail.GetProperty("contacts").EnumerateArray().ToList();
        Assert.Equal(["Bob", "Ann"], contacts.Select(c => c.GetProperty("name").GetString()));
        Assert.Equal("+442079460000", contacts[0].GetProperty("phone_e164").GetString());
        Assert.True(contacts[0].GetProperty("is_primary").GetBoolean());
    }

    [Fact]
    public async Task ListClients_WhenSearchingByPhone_FindsTheClientWithItsPrimaryContact()
    {
        var setup = await WorkspaceWithClientAsync();

        var page = await server.Client(setup.Owner).GetFromJsonAsync<JsonElement>(
            $"/api/workspaces/{setup.Workspace}/clients?search={Uri.EscapeDataString("(555) 010-01")}&limit=10");

        var found = Assert.Single(page.GetProperty("clients").EnumerateArray());
        Assert.Equal(setup.ContactId, found.GetProperty("primary_contact").GetProperty("contact_id").GetGuid());
        Assert.Equal(1, page.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task ImportContacts_WhenRowsMixGoodAndBad_KeepsEveryGoodRowAndRerunCreatesNothing()
    {
        var setup = await WorkspaceWithClientAsync();
        const string csv = """"
            Name,Phone,Email,Notes
            "Smith, Jo",+44 20 7946 0001,jo@example.test,first
            Bad Phone,call me,,
            Ann again,001 555 010 0199,,
            No Name,+44 20 7946 0002,,
            ,+44 20 7946 0003,,
            "Quote ""Q""",+44 20 7946 0004,not-an-email,
            Twin,+44 (20) 7946-0001,,
            """";
        var client = server.Client(setup.Owner);
        var url = $"/api/workspaces/{setup.Workspace}/contacts:import";

        var first = await (await client.PostAsync(url, Http.Json(csv, "text/csv"))).Content.ReadFromJsonAsync<JsonElement>();
        var second = await (await client.PostAsync(url, Http.Json(csv, "text/csv"))).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal([2, 2, 3], new[] { "created", "existing", "rejected" }.Select(k => first.GetProperty(k).GetInt32()));
        var outcomes = first.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["created", "rejected", "existing", "created", "rejected", "rejected", "existing"],
            outcomes.Select(o => o.GetProperty("outcome").GetString()));
        Assert.Equal(["invalid_phone", "contact_name_required", "invalid_email"],
            outcomes.Where(o => o.GetProperty("outcome").GetString() == "rejected").Select(o => o.GetProperty("code").GetString()));
        Assert.Equal(setup.ContactId, outcomes[2].GetProperty("contact_id").GetGuid());
        Assert.Equal(outcomes[0].GetProperty("contact_id").GetGuid(), outcomes[6].GetProperty("contact_id").GetGuid());
        Assert.Equal("Smith, Jo", await server.ScalarAsync<string>(
            "select name from crm.contacts where workspace_id = $1 and phone_e164 = '+442079460001'", setup.Workspace));
        Assert.Equal([0, 4, 3], new[] { "created", "existing", "rejected" }.Select(k => second.GetProperty(k).GetInt32()));
        Assert.Equal(3L, await server.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", setup.Workspace));
    }

    [Theory]
    [InlineData("text/csv", "phone\n+15550100111\n", 400, "invalid_csv")]
    [InlineData("text/csv", "name,phone\n\"Open,+15550100111\n", 400, "invalid_csv")]
    [InlineData("text/csv", "", 400, "invalid_csv")]
    [InlineData("text/plain", "name,phone\nY,+15550100111\n", 415, "unsupported_media_type")]
    public async Task ImportContacts_WhenTheFileIsMalformed_AnswersAProblemAndWritesNothing(string contentType, string body, int status, string code)
    {
        var setup = await WorkspaceWithClientAsync();
        var before = await RowsAsync(setup.Workspace);

        var response = await server.Client(setup.Owner).PostAsync($"/api/workspaces/{setup.Workspace}/contacts:import", Http.Json(body, contentType));

        await Http.AssertProblemAsync(response, (HttpStatusCode)status, code);
        Assert.Equal(before, await RowsAsync(setup.Workspace));
    }

    [Fact]
    public async Task UpsertContact_WhenCalledTwice_CreatesOnceThenReturnsTheSameId()
    {
        var setup = await WorkspaceWithClientAsync();
        var client = server.Client(setup.Owner);
        var url = $"/api/workspaces/{setup.Workspace}/contacts:upsert";

        var first = await client.PostAsJsonAsync(url, new { phone = "+49 151 1234 5678", name = "Max" });
        var second = await client.PostAsJsonAsync(url, new { phone = "0049 151 12345678", name = "Max" });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("contact_id").GetGuid(),
            (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("contact_id").GetGuid());
    }

    [Fact]
    public async Task Rpc_CreateClientWithContact_WhenThePhoneIsTaken_ReturnsTheRefusalWithTheExistingContact()
    {
        var setup = await WorkspaceWithClientAsync();
        var client = server.Client(setup.Owner);

        var response = await client.PostAsync("/rest/v1/rpc/create_client_with_contact", Http.Json(
            $$"""{"p_workspace_id": "{{setup.Workspace}}", "p_client_name": "Other", "p_contact_name": "Bob", "p_contact_phone": "+1 555 010 0199"}"""));
        var imported = await client.PostAsync("/rest/v1/rpc/import_contacts", Http.Json(
            $$"""{"p_workspace_id": "{{setup.Workspace}}", "p_rows": [{"name": "Jo", "phone": "+442079460001"}]}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("phone_taken", body.GetProperty("code").GetString());
        Assert.Equal(setup.ContactId, body.GetProperty("contact_id").GetGuid());
        Assert.Equal(1, (await imported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("created").GetInt32());
    }

    [Fact]
    public async Task OpenApiDocument_ListsTheCrmOperations()
    {
        var document = await server.Client().GetStringAsync("/openapi/v1.json");

        foreach (var name in new[] { "CreateClientWithContact", "ListClients", "GetClient", "AddClientContact", "SetPrimaryContact", "AddContact", "UpsertContactByPhone", "ImportContacts" })
        {
            Assert.Contains($"\"{name}\"", document, StringComparison.Ordinal);
        }
        Assert.Contains("contacts:import", document, StringComparison.Ordinal);
    }
}
