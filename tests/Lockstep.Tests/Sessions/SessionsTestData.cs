using System.Runtime.CompilerServices;
using System.Text.Json;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Sessions;

/// <summary>Workspaces, clients, packs and bookings for the Sessions tests, made through SQL.</summary>
public static class SessionsTestData
{
    // Test servers must not complete bookings behind a test's back; the auto-completion tests run passes themselves.
    [ModuleInitializer]
    internal static void DisableAutoCompletion() =>
        Environment.SetEnvironmentVariable("Lockstep__Sessions__AutoCompleteInterval", "0");

    public static async Task<(Guid Owner, Guid Workspace, Guid Client)> ClientAsync(DatabaseFixture db, string name = "Ann")
    {
        var owner = Guid.NewGuid();
        var created = await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Studio')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        var client = await db.ScalarAsync<Guid>("insert into crm.clients (workspace_id, name) values ($1, $2) returning id", workspace, name);
        return (owner, workspace, client);
    }

    public static async Task<Guid> PackAsync(DatabaseFixture db, Guid user, Guid client, int sessions, DateTimeOffset? expiresAt = null)
    {
        var created = await db.ScalarAsUserAsync<string>(user,
            "select public.create_purchase(p_client_id => $1, p_sessions_total => $2, p_expires_at => $3)",
            client, sessions, expiresAt?.ToUniversalTime());
        return JsonDocument.Parse(created).RootElement.GetProperty("purchase_id").GetGuid();
    }

    public static async Task<Guid> BookingAsync(DatabaseFixture db, Guid user, Guid client, Guid? pack, DateTimeOffset startsAt, TimeSpan? length = null)
    {
        var created = await db.ScalarAsUserAsync<string>(user,
            "select public.create_booking(p_client_id => $1, p_starts_at => $2, p_ends_at => $3, p_purchase_id => $4)",
            client, startsAt.ToUniversalTime(), (startsAt + (length ?? TimeSpan.FromHours(1))).ToUniversalTime(), pack);
        return JsonDocument.Parse(created).RootElement.GetProperty("booking_id").GetGuid();
    }

    public static Task<int> UsedAsync(DatabaseFixture db, Guid pack) =>
        db.ScalarAsync<int>("select sessions_used from sessions.purchases where id = $1", pack);
}
