using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>An extension and a stray function in public, installed before the server reads its catalog.</summary>
public sealed class ExtensionInPublicFixture : ServerFixture
{
    protected override async Task BeforeServerStartsAsync()
    {
        await using var command = DataSource.CreateCommand("""
            create extension pgcrypto schema public;
            grant execute on function public.gen_random_bytes(integer) to lockstep_api;
            create function public.stray_helper() returns text language sql security definer set search_path = '' as $$ select 'stray' $$;
            grant execute on function public.stray_helper() to public;
            """);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>/rest/v1/rpc exposes only the functions Lockstep's schema files created and granted to the serving role.</summary>
public sealed class RpcExposureTests(ExtensionInPublicFixture server) : IClassFixture<ExtensionInPublicFixture>
{
    [Theory]
    [InlineData("gen_salt", """{"": "bf"}""")]
    [InlineData("gen_random_bytes", """{"": 8}""")]
    [InlineData("digest", """{"": "x"}""")]
    [InlineData("stray_helper", "{}")]
    public async Task Call_WhenTheFunctionIsAnExtensionsOrUngranted_IsNotFound(string function, string body)
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync($"/rest/v1/rpc/{function}", Http.Json(body));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("PGRST202", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Call_WhenTheFunctionIsLockstepsOwn_StillRuns()
    {
        var response = await server.Client(Guid.NewGuid()).PostAsync("/rest/v1/rpc/list_workspaces", Http.Json("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
