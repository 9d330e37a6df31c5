using System.Text.Json;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// One workspace with a row behind every route parameter (client, contact, pack, booking, wishlist,
/// item, lead, conversation) and a user in each role, plus an outsider who owns another workspace,
/// and a WhatsApp phone number id with a Cloud API token that owns it (not connected yet). The
/// celebrant, whose wishlist it is, is a second owner.
/// </summary>
public sealed record RouteWorld(
    Guid Owner, Guid Admin, Guid Member, Guid Celebrant, Guid Outsider, Guid Target,
    Guid Workspace, Guid OtherWorkspace, Guid Client, Guid Contact, Guid Purchase, Guid Booking,
    Guid Wishlist, Guid Item, Guid Lead, Guid Conversation, string WhatsAppNumber, string WhatsAppToken)
{
    public static async Task<RouteWorld> CreateAsync(ServerFixture db)
    {
        Guid owner = Guid.NewGuid(), admin = Guid.NewGuid(), member = Guid.NewGuid(), celebrant = Guid.NewGuid(),
            outsider = Guid.NewGuid(), target = Guid.NewGuid();
        var workspace = await IdAsync(db, owner, "select public.create_workspace('World')", "workspace_id");
        var other = await IdAsync(db, outsider, "select public.create_workspace('Elsewhere')", "workspace_id");
        foreach (var (user, role) in new[] { (admin, "admin"), (member, "member"), (celebrant, "owner"), (target, "member") })
        {
            await IdAsync(db, owner, "select public.add_member($1, $2, $3, 'Someone')", null, workspace, user, role);
        }
        var client = await JsonAsync(db, owner,
            "select public.create_client_with_contact($1, 'Ada', 'Ada Lovelace', '+15550100111', 'ada@example.com')", workspace);
        var clientId = client.GetProperty("client_id").GetGuid();
        var purchase = await IdAsync(db, owner, "select public.create_purchase($1, 10, 100.00)", "purchase_id", clientId);
        var booking = await IdAsync(db, owner,
            "select public.create_booking($1, now() + interval '30 days', now() + interval '30 days 1 hour', $2)", "booking_id", clientId, purchase);
        var wishlist = await IdAsync(db, celebrant, "select public.create_wishlist($1, 'Birthday')", "wishlist_id", workspace);
        var item = await IdAsync(db, celebrant, "select public.add_wishlist_item($1, 'Bicycle', 250.00)", "item_id", wishlist);
        var lead = await JsonAsync(db, owner,
            "select public.create_lead_with_conversation($1, '+15550100222', 'Grace', 'inquiry')", workspace);
        var whatsAppNumber = Random.Shared.NextInt64(100_000_000_000, 999_999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var whatsAppToken = "EAA" + Guid.NewGuid().ToString("N");
        db.CloudApi.Grant(whatsAppToken, whatsAppNumber);
        return new RouteWorld(owner, admin, member, celebrant, outsider, target, workspace, other,
            clientId, client.GetProperty("contact_id").GetGuid(), purchase, booking, wishlist, item,
            lead.GetProperty("lead_id").GetGuid(), lead.GetProperty("conversation_id").GetGuid(), whatsAppNumber, whatsAppToken);
    }

    /// <summary>The real row behind a route parameter of this world, by the parameter's name.</summary>
    public Guid? IdFor(string routeParameter) => routeParameter switch
    {
        "workspaceId" => Workspace,
        "clientId" => Client,
        "contactId" => Contact,
        "purchaseId" => Purchase,
        "bookingId" => Booking,
        "wishlistId" => Wishlist,
        "itemId" => Item,
        "leadId" => Lead,
        "conversationId" => Conversation,
        "userId" => Target,
        _ => null,
    };

    /// <summary>Every routed endpoint of the app (method, pattern, name), read from its EndpointDataSource.</summary>
    public static List<RouteEndpoint> Endpoints(IServiceProvider services) =>
        services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .OrderBy(e => e.RoutePattern.RawText, StringComparer.Ordinal)
            .ToList();

    /// <summary>The route's method; GET for one that answers any method (the health checks).</summary>
    public static string Method(RouteEndpoint endpoint) => endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods[0] ?? "GET";

    /// <summary>"POST /api/workspaces/{workspaceId}/clients/": one route, as the tests name it.</summary>
    public static string Key(RouteEndpoint endpoint) => $"{Method(endpoint)} /{endpoint.RoutePattern.RawText!.TrimStart('/')}";

    private static readonly string[] IdOnlyPrefixes = ["/api/clients/", "/api/purchases/", "/api/bookings/", "/api/wishlists/", "/api/wishlist-items/"];

    /// <summary>
    /// The workspace-scoped twin of a route named by an id alone ("POST /api/purchases/{purchaseId}/use" →
    /// "POST /api/workspaces/{workspaceId}/purchases/{purchaseId}/use"), or null for any other route.
    /// </summary>
    public static string? WorkspaceTwin(string key)
    {
        var space = key.IndexOf(' ', StringComparison.Ordinal);
        var path = key[(space + 1)..];
        return IdOnlyPrefixes.Any(p => path.StartsWith(p, StringComparison.Ordinal))
            ? $"{key[..space]} /api/workspaces/{{workspaceId}}/{path["/api/".Length..].TrimEnd('/')}"
            : null;
    }

    /// <summary><paramref name="rows"/> with, for each route named by an id alone, the same row under its workspace-scoped twin.</summary>
    public static Dictionary<string, T> WithWorkspaceTwins<T>(Dictionary<string, T> rows) =>
        rows.Concat(rows.Where(r => WorkspaceTwin(r.Key) is not null).Select(r => KeyValuePair.Create(WorkspaceTwin(r.Key)!, r.Value)))
            .ToDictionary(StringComparer.Ordinal);

    /// <summary>Every table of the module schemas: row count and a digest of its content, by table name.</summary>
    public static async Task<Dictionary<string, (long Rows, string Digest)>> SnapshotAsync(DatabaseFixture db)
    {
        var tables = new List<string>();
        await using (var list = db.DataSource.CreateCommand("""
            select c.oid::regclass::text from pg_class c
            where c.relkind in ('r', 'p') and c.relnamespace::regnamespace::text = any('{platform,crm,leads,sessions,gifts}')
            order by 1
            """))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }
        var snapshot = new Dictionary<string, (long, string)>();
        foreach (var table in tables)
        {
            await using var command = db.DataSource.CreateCommand(
                $"select count(*), coalesce(md5(string_agg(t::text, '|' order by t::text)), '') from {table} t");
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            snapshot[table] = (reader.GetInt64(0), reader.GetString(1));
        }
        return snapshot;
    }

    private static async Task<JsonElement> JsonAsync(DatabaseFixture db, Guid user, string sql, params object[] args)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var text = await DatabaseFixture.ScalarAsUserAsync<string>(connection, user, sql.Replace("select ", "select (", StringComparison.Ordinal) + ")::text", args);
        var json = JsonDocument.Parse(text).RootElement;
        if (!json.GetProperty("success").GetBoolean())
        {
            throw new InvalidOperationException($"{sql}: {text}");
        }
        return json;
    }

    private static async Task<Guid> IdAsync(DatabaseFixture db, Guid user, string sql, string? key, params object[] args)
    {
        var json = await JsonAsync(db, user, sql, args);
        return key is null ? Guid.Empty : json.GetProperty(key).GetGuid();
    }
}
