// lockstep-load: the HTTP half of bench/run. C closed loops (one keep-alive connection each) send one
// scenario's requests for S seconds; at the deadline no new request starts and the ones in flight are
// awaited, so "ok" is exactly the number of requests the server answered with success — the number
// the SQL invariant check compares with what was written.
// usage: lockstep-load scenario=lead|use|rpc_use|webhook|list base=http://127.0.0.1:5091 seconds=5 concurrency=16
//        [token=JWT] [workspace=uuid] [pack=uuid] [packs=10000] [secret=app-secret] [phone_number_id=...]
//        [run=tag] [customers=500]
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

var options = args.Select(a => a.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "");
string Opt(string name, string fallback = "") => options.TryGetValue(name, out var v) ? v : fallback;
var scenario = Opt("scenario");
var baseUrl = Opt("base").TrimEnd('/');
var seconds = double.Parse(Opt("seconds", "5"), CultureInfo.InvariantCulture);
var concurrency = int.Parse(Opt("concurrency", "16"), CultureInfo.InvariantCulture);
var workspace = Opt("workspace");
var run = Opt("run", Guid.NewGuid().ToString("N")[..8]);
var packs = int.Parse(Opt("packs", "0"), CultureInfo.InvariantCulture);
var customers = int.Parse(Opt("customers", "500"), CultureInfo.InvariantCulture);
var phoneBase = long.Parse(Opt("phone_base", "100000000000"), CultureInfo.InvariantCulture);
var secret = Encoding.UTF8.GetBytes(Opt("secret"));
var phoneNumberId = Opt("phone_number_id");
var pack = Opt("pack");

using var http = new HttpClient(new SocketsHttpHandler
{
    MaxConnectionsPerServer = concurrency,
    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    UseCookies = false,
    UseProxy = false,
    AutomaticDecompression = System.Net.DecompressionMethods.None,
});
if (Opt("token") is { Length: > 0 } token)
{
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
}
var json = new MediaTypeHeaderValue("application/json");
var counter = -1L;

// The deterministic pack ids bench/run seeds: 00000000-0000-4000-8000-<n as 12 digits>, n in 1..packs.
static string PackId(int n) => "00000000-0000-4000-8000-" + n.ToString("D12", CultureInfo.InvariantCulture);

HttpRequestMessage Next()
{
    var n = Interlocked.Increment(ref counter);
    switch (scenario)
    {
        case "lead":
        {
            var body = $$"""{"customer_phone":"+{{phoneBase + n}}","customer_name":"Bench {{n}}","type":"inquiry"}""";
            return new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/api/workspaces/{workspace}/leads")
            { Content = new StringContent(body, json) };
        }
        case "use":
        {
            var id = packs > 0 ? PackId(Random.Shared.Next(1, packs + 1)) : pack;
            return new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/api/purchases/{id}/use");
        }
        case "rpc_use":
        {
            var id = packs > 0 ? PackId(Random.Shared.Next(1, packs + 1)) : pack;
            return new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/rest/v1/rpc/use_session")
            { Content = new StringContent($$"""{"p_purchase_id":"{{id}}"}""", json) };
        }
        case "webhook":
        {
            var from = (15550000000L + n % customers).ToString(CultureInfo.InvariantCulture);
            var body = Encoding.UTF8.GetBytes(
                "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"bench\",\"changes\":[{\"field\":\"messages\",\"value\":{" +
                "\"messaging_product\":\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550000000\",\"phone_number_id\":\"" + phoneNumberId + "\"}," +
                "\"contacts\":[{\"profile\":{\"name\":\"Customer " + from + "\"},\"wa_id\":\"" + from + "\"}]," +
                "\"messages\":[{\"from\":\"" + from + "\",\"id\":\"wamid.http." + run + "." + n.ToString(CultureInfo.InvariantCulture) +
                "\",\"timestamp\":\"1731000000\",\"type\":\"text\",\"text\":{\"body\":\"Message " + n.ToString(CultureInfo.InvariantCulture) + "\"}}]}}]}]}");
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = json;
            var request = new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/api/webhooks/whatsapp") { Content = content };
            request.Headers.Add("X-Hub-Signature-256", "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, body)));
            return request;
        }
        case "list":
            return new HttpRequestMessage(HttpMethod.Get, $"{baseUrl}/api/workspaces/{workspace}/clients");
        default:
            throw new ArgumentException($"unknown scenario '{scenario}'");
    }
}

// rpc_use answers 200 with true or false; only true consumed a session.
bool Succeeded(int status, string body) => status is >= 200 and < 300 && (scenario != "rpc_use" || body == "true");

var deadline = TimeSpan.FromSeconds(seconds);
var cpuAtStart = Environment.CpuUsage.TotalTime;
var clock = Stopwatch.StartNew();
var latencies = new List<double>[concurrency];
var ok = new long[concurrency];
var codes = new Dictionary<string, long>[concurrency];
await Task.WhenAll(Enumerable.Range(0, concurrency).Select(i => Task.Run(async () =>
{
    var mine = latencies[i] = new List<double>(1 << 16);
    var myCodes = codes[i] = [];
    while (clock.Elapsed < deadline)
    {
        using var request = Next();
        var started = Stopwatch.GetTimestamp();
        string outcome;
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            var body = await response.Content.ReadAsStringAsync();
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            var status = (int)response.StatusCode;
            if (Succeeded(status, body))
            {
                ok[i]++;
                continue;
            }
            outcome = status.ToString(CultureInfo.InvariantCulture) + (status >= 400 && body.Contains("\"code\"") ? ":" + CodeOf(body) : scenario == "rpc_use" ? ":" + body : "");
        }
        catch (HttpRequestException e)
        {
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            outcome = "exception:" + e.HttpRequestError;
        }
        myCodes[outcome] = myCodes.GetValueOrDefault(outcome) + 1;
    }
})));
var elapsed = clock.Elapsed.TotalSeconds;
var cpu = Environment.CpuUsage.TotalTime - cpuAtStart;
var all = latencies.SelectMany(l => l).ToArray();
Array.Sort(all);
double Pct(double p) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(all.Length * p))];
var failures = codes.SelectMany(c => c).GroupBy(c => c.Key).Select(g => $"{g.Key}x{g.Sum(c => c.Value)}");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"requests={all.Length} ok={ok.Sum()} failed={all.Length - ok.Sum()} seconds={elapsed:0.000} rps={all.Length / elapsed:0} p50={Pct(0.50):0.00} p99={Pct(0.99):0.00} client_us={(all.Length == 0 ? 0 : cpu.TotalMicroseconds / all.Length):0} failures={string.Join(',', failures)}"));

static string CodeOf(string body)
{
    var at = body.IndexOf("\"code\":\"", StringComparison.Ordinal);
    if (at < 0) return "?";
    at += 8;
    var end = body.IndexOf('"', at);
    return end < 0 ? "?" : body[at..end];
}
