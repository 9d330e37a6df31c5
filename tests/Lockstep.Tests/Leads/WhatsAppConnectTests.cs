using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;

namespace Lockstep.Tests.Leads;

/// <summary>
/// PUT /whatsapp/connection stores a phone number id only once the Cloud API has confirmed that the
/// access token may read it; otherwise another business's number could be registered and its customers'
/// messages received. The stand-in Cloud API answers per token from the numbers granted to it.
/// </summary>
public sealed class WhatsAppConnectTests(LeadsServerFixture server) : IClassFixture<LeadsServerFixture>
{
    private const string Stored = "select count(*) from leads.whatsapp_connections where workspace_id = $1";

    private async Task<HttpResponseMessage> ConnectAsync(Guid workspace, Guid caller, string phoneNumberId, string accessToken)
    {
        using var client = server.Client(caller);
        return await client.PutAsJsonAsync($"/api/workspaces/{workspace}/whatsapp/connection",
            new { phone_number_id = phoneNumberId, access_token = accessToken });
    }

    [Fact]
    public async Task Connect_WhenTheTokenOwnsTheNumber_VerifiesItWithTheCloudApiThenStoresIt()
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var phoneNumberId = server.NewPhoneNumber();

        var response = await ConnectAsync(workspace, owner, phoneNumberId, "token-" + phoneNumberId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(phoneNumberId, body.GetProperty("phone_number_id").GetString());
        Assert.Equal("Stand-in Business", body.GetProperty("verified_name").GetString());
        Assert.DoesNotContain("token-", body.GetRawText(), StringComparison.Ordinal);
        var lookup = Assert.Single(server.CloudApi.LookupsFor(phoneNumberId));
        Assert.Equal($"Bearer token-{phoneNumberId}", lookup.Authorization);
        Assert.Equal(phoneNumberId, await server.ScalarAsync<string>(
            "select phone_number_id from leads.whatsapp_connections where workspace_id = $1", workspace));
    }

    [Theory]
    [InlineData("another business's token")]
    [InlineData("a token the Cloud API never issued")]
    public async Task Connect_WhenTheTokenDoesNotOwnTheNumber_Returns422AndStoresNothing(string token)
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var victimsNumber = server.NewPhoneNumber();
        var attackersNumber = server.NewPhoneNumber();
        var accessToken = token == "a token the Cloud API never issued" ? "EAAnever-issued-secret" : "token-" + attackersNumber;

        var response = await ConnectAsync(workspace, owner, victimsNumber, accessToken);

        var problem = await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "whatsapp_number_not_verified");
        Assert.DoesNotContain(accessToken, problem.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(0L, await server.ScalarAsync<long>(Stored, workspace));
        Assert.Equal(0L, await server.ScalarAsync<long>(
            "select count(*) from platform.audit_log where workspace_id = $1 and entity_table = 'leads.whatsapp_connections'", workspace));
    }

    [Fact]
    public async Task Connect_WhenAnAdminRegistersAnotherBusinessesNumber_ThatBusinessesCustomersNeverReachTheWorkspace()
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var victimsNumber = server.NewPhoneNumber();
        var attackersNumber = server.NewPhoneNumber();

        var response = await ConnectAsync(workspace, owner, victimsNumber, "token-" + attackersNumber);
        var delivered = await server.DeliverAsync(
            LeadsServerFixture.InboundPayload(victimsNumber, "15551239901", "wamid." + Guid.NewGuid().ToString("N"), "My card number is ..."));

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "whatsapp_number_not_verified");
        Assert.Equal(HttpStatusCode.OK, delivered.StatusCode);
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from leads.messages where workspace_id = $1", workspace));
    }

    [Theory]
    [InlineData("5xx")]
    [InlineData("429")]
    [InlineData("hang")]
    public async Task Connect_WhenTheCloudApiCannotAnswer_Returns503WithRetryAfterAndStoresNothing(string failure)
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var phoneNumberId = server.NewPhoneNumber();
        server.CloudApi.ScriptLookup(phoneNumberId, failure switch
        {
            "5xx" => new CloudApiStandIn.Reply(503, """{"error":{"message":"Service temporarily unavailable","type":"OAuthException","code":2,"is_transient":true}}"""),
            "429" => new CloudApiStandIn.Reply(429, """{"error":{"message":"Too many calls","code":4}}"""),
            _ => new CloudApiStandIn.Reply(200, "{}", Hang: TimeSpan.FromSeconds(30)),
        });

        var response = await ConnectAsync(workspace, owner, phoneNumberId, "token-" + phoneNumberId);

        await Http.AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "whatsapp_unavailable");
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(0L, await server.ScalarAsync<long>(Stored, workspace));
    }

    [Fact]
    public async Task Connect_WhenNothingListensAtTheCloudApiAddress_Returns503WithRetryAfterAndStoresNothing()
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var phoneNumberId = server.NewPhoneNumber();
        await using var unreachable = server.Factory.WithWebHostBuilder(b => b
            .UseSetting("Lockstep:WhatsApp:ApiBaseUrl", "http://127.0.0.1:9/")
            .UseSetting("Lockstep:Leads:Outbox:Enabled", "false"));
        using var client = unreachable.Client(owner);

        var response = await client.PutAsJsonAsync($"/api/workspaces/{workspace}/whatsapp/connection",
            new { phone_number_id = phoneNumberId, access_token = "token-" + phoneNumberId });

        await Http.AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "whatsapp_unavailable");
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(0L, await server.ScalarAsync<long>(Stored, workspace));
    }

    [Theory]
    [InlineData("..")]
    [InlineData("123/messages")]
    [InlineData("123?fields=access_token")]
    [InlineData("١٢٣")]
    public async Task Connect_WhenThePhoneNumberIdIsNotDigits_Returns422WithoutAskingTheCloudApi(string phoneNumberId)
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        server.CloudApi.Grant("token-any", phoneNumberId);

        var response = await ConnectAsync(workspace, owner, phoneNumberId, "token-any");

        await Http.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_phone_number_id");
        Assert.Empty(server.CloudApi.LookupsFor(phoneNumberId));
        Assert.Equal(0L, await server.ScalarAsync<long>(Stored, workspace));
    }

    [Fact]
    public async Task Connect_WhenTheCallerIsAMemberOrAnOutsider_IsRefusedInSqlEvenWithAVerifiedToken()
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var (_, outsider) = await server.WorkspaceAsync();
        var member = Guid.NewGuid();
        using (var client = server.Client(owner))
        {
            (await client.PostAsJsonAsync($"/api/workspaces/{workspace}/members", new { user_id = member, role = "member" })).EnsureSuccessStatusCode();
        }
        var phoneNumberId = server.NewPhoneNumber();

        var asMember = await ConnectAsync(workspace, member, phoneNumberId, "token-" + phoneNumberId);
        var asOutsider = await ConnectAsync(workspace, outsider, phoneNumberId, "token-" + phoneNumberId);

        await Http.AssertProblemAsync(asMember, HttpStatusCode.Forbidden, "forbidden");
        await Http.AssertProblemAsync(asOutsider, HttpStatusCode.NotFound, "workspace_not_found");
        Assert.Equal(0L, await server.ScalarAsync<long>(Stored, workspace));
    }

    [Theory]
    [InlineData("connect_whatsapp")]
    [InlineData("store_whatsapp_connection")]
    public async Task Rpc_WhenAClientCallsTheStoringFunctionDirectly_ItIsNotFound(string function)
    {
        var (workspace, owner) = await server.WorkspaceAsync();
        var phoneNumberId = server.NewPhoneNumber();
        using var client = server.Client(owner);

        var response = await client.PostAsJsonAsync($"/rest/v1/rpc/{function}",
            new { p_workspace_id = workspace, p_phone_number_id = phoneNumberId, p_access_token = "token-" + phoneNumberId });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("PGRST202", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(0L, await server.ScalarAsync<long>(Stored, workspace));
    }
}
