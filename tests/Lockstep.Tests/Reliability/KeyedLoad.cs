using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Lockstep.Platform.Http;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// Clients that never give up: each operation (alternately create_client_with_contact through the CRM
/// route and use_session through the sessions route) has its own Idempotency-Key and is sent again with
/// that key until it gets a final answer — after a 503, a 409 in progress, a refused connection or a
/// timeout. What each operation finally got is kept, so SQL can be compared with it afterwards.
/// </summary>
internal sealed class KeyedLoad(HttpClient http, Guid workspace, Guid pack)
{
    private int _next;
    private long _sent;
    private long _transportErrors;
    private long _maxLatencyMs;

    public ConcurrentDictionary<int, int> Statuses { get; } = new();
    public ConcurrentBag<string> Unexpected { get; } = [];
    public ConcurrentBag<string> CreatedPhones { get; } = [];
    public int UsesAnswered => _uses;
    public int Operations => _next;
    public long Sent => Interlocked.Read(ref _sent);
    public long TransportErrors => Interlocked.Read(ref _transportErrors);
    public long MaxLatencyMs => Interlocked.Read(ref _maxLatencyMs);

    private int _uses;

    /// <summary>Runs <paramref name="workers"/> clients until <paramref name="stop"/>; each finishes its current operation.</summary>
    public Task RunAsync(int workers, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await CompleteAsync(Interlocked.Increment(ref _next));
            }
        })));

    /// <summary>A workspace owned by <paramref name="owner"/>, a client without contacts and a pack of 10,000 sessions.</summary>
    public static async Task<(Guid Workspace, Guid Pack)> SetupAsync(NpgsqlDataSource db, Guid owner)
    {
        await using var connection = await db.OpenConnectionAsync();
        var created = await DatabaseFixture.ScalarAsUserAsync<string>(connection, owner, "select public.create_workspace('Load')");
        var workspace = System.Text.Json.JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        var client = await DatabaseFixture.ScalarAsUserAsync<Guid>(connection, null,
            "insert into crm.clients (workspace_id, name) values ($1, 'Pack owner') returning id", workspace);
        var bought = await DatabaseFixture.ScalarAsUserAsync<string>(connection, owner,
            "select public.create_purchase(p_client_id => $1, p_sessions_total => 10000)", client);
        return (workspace, System.Text.Json.JsonDocument.Parse(bought).RootElement.GetProperty("purchase_id").GetGuid());
    }

    public static string Phone(int n) => $"+49151{n:D8}";

    private async Task CompleteAsync(int n)
    {
        var key = $"op-{n}";
        var create = n % 2 == 0;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            using var request = create
                ? new HttpRequestMessage(HttpMethod.Post, $"/api/workspaces/{workspace}/clients")
                {
                    Content = Http.Json($$"""{"client_name": "Client {{n}}", "contact_name": "Person {{n}}", "contact_phone": "{{Phone(n)}}"}"""),
                }
                : new HttpRequestMessage(HttpMethod.Post, $"/api/purchases/{pack}/use");
            request.Headers.Add(Idempotency.KeyHeader, key);
            Interlocked.Increment(ref _sent);
            var watch = Stopwatch.StartNew();
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                Interlocked.Increment(ref _transportErrors);
                await Task.Delay(50);
                continue;
            }
            using (response)
            {
                var latency = watch.ElapsedMilliseconds;
                long seen;
                while (latency > (seen = Interlocked.Read(ref _maxLatencyMs)) && Interlocked.CompareExchange(ref _maxLatencyMs, latency, seen) != seen)
                {
                }
                var status = (int)response.StatusCode;
                Statuses.AddOrUpdate(status, 1, (_, c) => c + 1);
                if (response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.Conflict)
                {
                    await Task.Delay(50);
                    continue;
                }
                if (create && response.StatusCode == HttpStatusCode.Created)
                {
                    CreatedPhones.Add(Phone(n));
                    return;
                }
                if (!create && response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref _uses);
                    return;
                }
                Unexpected.Add($"{key}: {status} {await response.Content.ReadAsStringAsync()}");
                return;
            }
        }
        Unexpected.Add($"{key}: never answered");
    }

    /// <summary>Compares the database with what the clients were told; returns how many rows it checked.</summary>
    public async Task<long> AssertExactlyOnceAsync(NpgsqlDataSource db, Guid user)
    {
        Assert.Empty(Unexpected);
        var phones = CreatedPhones.ToArray();
        Assert.Equal(Operations, phones.Length + UsesAnswered);

        await using var command = db.CreateCommand("""
            select (select count(*) from crm.clients where workspace_id = $1),
                   (select count(*) from crm.contacts where workspace_id = $1),
                   (select count(*) from crm.contacts where workspace_id = $1 and phone_e164 = any($3)),
                   (select count(distinct phone_e164) from crm.contacts where workspace_id = $1),
                   (select count(*) from crm.clients c where c.workspace_id = $1
                      and (select count(*) from crm.contacts k where k.workspace_id = c.workspace_id and k.client_id = c.id and k.is_primary) <> 1),
                   (select sessions_used from sessions.purchases where id = $2),
                   (select count(*) from platform.idempotency_keys where scope = 'user:' || $4::text)
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = workspace });
        command.Parameters.Add(new NpgsqlParameter { Value = pack });
        command.Parameters.Add(new NpgsqlParameter { Value = phones });
        command.Parameters.Add(new NpgsqlParameter { Value = user });
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (clients, contacts, matching, distinct, withoutOnePrimary, used, keys) =
            (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt32(5), reader.GetInt64(6));
        // The setup made one client (the pack's owner) without a contact.
        Assert.Equal(phones.Length + 1, clients);
        Assert.Equal(phones.Length, contacts);
        Assert.Equal(phones.Length, matching);
        Assert.Equal(phones.Length, distinct);
        Assert.Equal(1, withoutOnePrimary);
        Assert.Equal(UsesAnswered, used);
        Assert.Equal(Operations, keys);
        return clients + contacts + keys + 1;
    }

    public string Summary() =>
        $"operations {Operations}, requests sent {Sent}, transport errors {TransportErrors}, max latency {MaxLatencyMs} ms, statuses "
        + string.Join(", ", Statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"));
}
