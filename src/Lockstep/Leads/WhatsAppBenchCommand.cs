using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Leads;

/// <summary>
/// <c>lockstep whatsapp-bench</c>: webhook ingest throughput. Starts the real server on a loopback port
/// (over a throwaway embedded cluster unless a database is configured), connects a phone number to a
/// fresh workspace, posts N signed deliveries with distinct message ids from C concurrent clients, then
/// checks that every message was stored exactly once.
/// </summary>
public static class WhatsAppBenchCommand
{
    public static Command Create(Func<string[], WebApplication> createServer)
    {
        var deliveries = new Option<int>("--deliveries") { Description = "Signed deliveries to post", DefaultValueFactory = _ => 3000 };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent HTTP clients", DefaultValueFactory = _ => 16 };
        var customers = new Option<int>("--customers") { Description = "Distinct senders (each one's first message creates a lead)", DefaultValueFactory = _ => 500 };
        var command = new Command("whatsapp-bench", "Measure WhatsApp webhook ingest throughput (deliveries/s) against a local server")
        {
            deliveries, concurrency, customers,
        };
        command.SetAction((parse, cancellationToken) =>
            RunAsync(createServer, parse.GetValue(deliveries), parse.GetValue(concurrency), Math.Max(1, parse.GetValue(customers)), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(Func<string[], WebApplication> createServer, int count, int concurrency, int customers, CancellationToken cancellationToken)
    {
        var secret = "bench-" + Guid.NewGuid().ToString("N");
        var dataDir = Path.Combine(Path.GetTempPath(), "lockstep-bench-" + Guid.NewGuid().ToString("N")[..8]);
        await using var app = createServer([
            "--urls=http://127.0.0.1:0",
            $"--Lockstep:DataDir={dataDir}",
            "--Lockstep:Embedded:Port=0",
            $"--Lockstep:WhatsApp:AppSecret={secret}",
            "--Lockstep:Leads:Outbox:Enabled=false",
            "--Logging:LogLevel:Default=Warning",
        ]);
        try
        {
            await app.StartAsync(cancellationToken);
            var dataSource = app.Services.GetRequiredService<DatabaseHost>().OwnerDataSource;
            var phoneNumberId = Random.Shared.NextInt64(100_000_000_000, 999_999_999_999).ToString(CultureInfo.InvariantCulture);
            await using var setup = dataSource.CreateCommand("""
                with w as (insert into platform.workspaces (name, created_by) values ('whatsapp-bench', gen_random_uuid()) returning id)
                insert into leads.whatsapp_connections (workspace_id, phone_number_id, access_token)
                select id, $1, 'bench' from w returning workspace_id
                """);
            setup.Parameters.Add(new NpgsqlParameter { Value = phoneNumberId });
            var workspace = (Guid)(await setup.ExecuteScalarAsync(cancellationToken))!;

            var run = Guid.NewGuid().ToString("N")[..8];
            var bodies = Enumerable.Range(0, count).Select(i =>
            {
                var from = (15550000000L + i % customers).ToString(CultureInfo.InvariantCulture);
                var body = Encoding.UTF8.GetBytes(
                    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"bench\",\"changes\":[{\"field\":\"messages\",\"value\":{" +
                    "\"messaging_product\":\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550000000\",\"phone_number_id\":\"" + phoneNumberId + "\"}," +
                    "\"contacts\":[{\"profile\":{\"name\":\"Customer " + from + "\"},\"wa_id\":\"" + from + "\"}]," +
                    "\"messages\":[{\"from\":\"" + from + "\",\"id\":\"wamid.bench." + run + "." + i.ToString(CultureInfo.InvariantCulture) +
                    "\",\"timestamp\":\"1731000000\",\"type\":\"text\",\"text\":{\"body\":\"Message " + i.ToString(CultureInfo.InvariantCulture) + "\"}}]}}]}]}");
                return (Body: body, Signature: WhatsAppWebhookEndpoints.Sign(body, secret));
            }).ToArray();

            var url = new Uri(new Uri(app.Urls.First()), "/api/webhooks/whatsapp");
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency });
            var latencies = new double[count];
            var failures = 0;
            var next = -1;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    using var content = new ByteArrayContent(bodies[i].Body);
                    content.Headers.ContentType = new("application/json");
                    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
                    request.Headers.Add(WhatsAppWebhookEndpoints.SignatureHeader, bodies[i].Signature);
                    var started = Stopwatch.GetTimestamp();
                    using var response = await http.SendAsync(request, cancellationToken);
                    latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            }));
            clock.Stop();

            await using var check = dataSource.CreateCommand("""
                select (select count(*) from leads.messages where workspace_id = $1),
                       (select count(*) from leads.leads where workspace_id = $1)
                """);
            check.Parameters.Add(new NpgsqlParameter { Value = workspace });
            await using var reader = await check.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var (messages, leads) = (reader.GetInt64(0), reader.GetInt64(1));
            Array.Sort(latencies);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"whatsapp-bench: {count} signed deliveries, {concurrency} concurrent clients, {customers} customers: " +
                $"{count / clock.Elapsed.TotalSeconds:0} deliveries/s ({clock.Elapsed.TotalSeconds:0.00} s), " +
                $"latency p50 {latencies[count / 2]:0.0} ms, p99 {latencies[Math.Min(count - 1, count * 99 / 100)]:0.0} ms; " +
                $"non-2xx {failures}; stored {messages} messages, {leads} leads"));
            return failures == 0 && messages == count && leads == Math.Min(customers, count) ? 0 : 1;
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}
