using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Crm;

/// <summary>Each test's own workspace and calls, straight through SQL as a user.</summary>
internal static class CrmData
{
    public static async Task<Guid> WorkspaceAsync(this DatabaseFixture db, Guid owner)
    {
        var created = await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('CRM test')");
        return JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
    }

    public static async Task<JsonElement> CallAsync(this DatabaseFixture db, Guid user, string sql, params object?[] args) =>
        JsonDocument.Parse(await db.ScalarAsUserAsync<string>(user, sql, args)).RootElement;

    public static Task<JsonElement> CreateClientAsync(this DatabaseFixture db, Guid user, Guid workspace, string name, string contact,
        string? phone = null, string? email = null) =>
        db.CallAsync(user,
            "select public.create_client_with_contact(p_workspace_id => $1, p_client_name => $2, p_contact_name => $3, p_contact_phone => $4, p_contact_email => $5)",
            workspace, name, contact, phone, email);

    public static bool Succeeded(this JsonElement result) => result.GetProperty("success").GetBoolean();

    public static string? Code(this JsonElement result) => result.TryGetProperty("code", out var c) ? c.GetString() : null;

    public static Guid Id(this JsonElement result, string name) => result.GetProperty(name).GetGuid();

}

internal static class CrmHttp
{
    public static async Task<Guid> WorkspaceAsync(this ServerFixture server, Guid owner)
    {
        var created = await server.Client(owner).PostAsJsonAsync("/api/workspaces", new { name = "CRM test" });
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("workspace_id").GetGuid();
    }
}
