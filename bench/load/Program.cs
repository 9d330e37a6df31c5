// lockstep-load: the HTTP half of bench/run. C closed loops (one keep-alive connection each) send one
// scenario's requests for S seconds; at the deadline no new request starts and the ones in flight are
// awaited, so "ok" is exactly the number of requests the server answered with success — the number
// the SQL invariant check compares with what was written.
// usage: lockstep-load scenario=lead|use|rpc_use|webhook|pledge|list base=http://127.0.0.1:5091 seconds=5 concurrency=16
//        [token=JWT] [workspace=uuid] [pack=uuid] [packs=10000] [secret=app-secret] [phone_number_id=...]
//        [run=tag] [customers=500]
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

var options = new Dictionary<string, string>();
foreach (var kv in args.Select(a => a.Split('=', 2)))
{
    options[kv[0]] = kv.Length > 1 ? kv[1] : "";   // a later value wins (bench/run passes a scenario's own token after the default)
}
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
        case "pledge":
        {
            var id = "00000000-0000-4000-9000-" + (n + 1).ToString("D12", CultureInfo.InvariantCulture);
            return new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/api/wishlist-items/{id}/pledges")
            { Content = new StringContent("""{"amount":1.00}""", json) };
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
var uri = new Uri(baseUrl);
var authorization = Opt("token") is { Length: > 0 } bearer ? "Authorization: Bearer " + bearer + "\r\n" : "";
var latencies = new List<double>[concurrency];
var ok = new long[concurrency];
var codes = new Dictionary<string, long>[concurrency];
var cpuAtStart = Environment.CpuUsage.TotalTime;
var clock = Stopwatch.StartNew();
// One blocking thread per connection: the kernel wakes the thread that waits for its own answer, with
// no thread-pool hops, so the generator spends far less CPU per request than HttpClient on these 2 cores.
var threads = Enumerable.Range(0, concurrency).Select(i => new Thread(() =>
{
    var mine = latencies[i] = new List<double>(1 << 16);
    var myCodes = codes[i] = [];
    var buffer = new byte[1 << 16];
    Socket? socket = null;
    while (clock.Elapsed < deadline)
    {
        using var request = Next();
        var bytes = Serialize(request, uri, authorization);
        var started = Stopwatch.GetTimestamp();
        string outcome;
        try
        {
            if (socket is null)
            {
                socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socket.Connect(uri.Host, uri.Port);
            }
            socket.Send(bytes);
            var (status, body, keepAlive) = ReadResponse(socket, ref buffer);
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (!keepAlive)
            {
                socket.Dispose();
                socket = null;
            }
            if (Succeeded(status, body))
            {
                ok[i]++;
                continue;
            }
            outcome = status.ToString(CultureInfo.InvariantCulture) + (status >= 400 && body.Contains("\"code\"") ? ":" + CodeOf(body) : scenario == "rpc_use" ? ":" + body : "");
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            socket?.Dispose();
            socket = null;
            outcome = "exception:" + e.GetType().Name;
        }
        myCodes[outcome] = myCodes.GetValueOrDefault(outcome) + 1;
    }
    socket?.Dispose();
}) { IsBackground = true }).ToArray();
foreach (var thread in threads) thread.Start();
foreach (var thread in threads) thread.Join();
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

// HTTP/1.1 request bytes: request line, Host, the bearer token, the content headers, the body.
static byte[] Serialize(HttpRequestMessage request, Uri server, string authorization)
{
    var body = request.Content?.ReadAsByteArrayAsync().GetAwaiter().GetResult() ?? [];
    var head = new StringBuilder()
        .Append(request.Method.Method).Append(' ').Append(request.RequestUri!.PathAndQuery).Append(" HTTP/1.1\r\n")
        .Append("Host: ").Append(server.Authority).Append("\r\n").Append(authorization);
    foreach (var header in request.Headers) head.Append(header.Key).Append(": ").Append(string.Join(",", header.Value)).Append("\r\n");
    if (request.Content is not null)
    {
        foreach (var header in request.Content.Headers.Where(h => h.Key != "Content-Length")) head.Append(header.Key).Append(": ").Append(string.Join(",", header.Value)).Append("\r\n");
    }
    if (request.Content is not null || request.Method != HttpMethod.Get) head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
    head.Append("\r\n");
    var headBytes = Encoding.ASCII.GetBytes(head.ToString());
    return [.. headBytes, .. body];
}

// Reads one response: headers, then a Content-Length body or a chunked body up to its last chunk.
static (int Status, string Body, bool KeepAlive) ReadResponse(Socket socket, ref byte[] buffer)
{
    var filled = 0;
    int headerEnd;
    while ((headerEnd = IndexOf(buffer, filled, "\r\n\r\n"u8)) < 0)
    {
        filled += Receive(socket, ref buffer, filled);
    }
    var head = Encoding.ASCII.GetString(buffer, 0, headerEnd);
    var status = int.Parse(head.AsSpan(9, 3), CultureInfo.InvariantCulture);
    var keepAlive = !head.Contains("\r\nConnection: close", StringComparison.OrdinalIgnoreCase);
    var bodyStart = headerEnd + 4;
    var lengthAt = head.IndexOf("\r\nContent-Length:", StringComparison.OrdinalIgnoreCase);
    if (lengthAt >= 0)
    {
        var valueStart = lengthAt + 17;
        var valueEnd = head.IndexOf("\r\n", valueStart, StringComparison.Ordinal);
        var length = int.Parse(head.AsSpan(valueStart, (valueEnd < 0 ? head.Length : valueEnd) - valueStart).Trim(), CultureInfo.InvariantCulture);
        while (filled < bodyStart + length) filled += Receive(socket, ref buffer, filled);
        return (status, Encoding.UTF8.GetString(buffer, bodyStart, length), keepAlive);
    }
    if (head.Contains("\r\nTransfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
    {
        while (filled - bodyStart < 5 || IndexOf(buffer, filled, "0\r\n\r\n"u8, filled - 5) < 0) filled += Receive(socket, ref buffer, filled);
        return (status, Dechunk(buffer, bodyStart, filled), keepAlive);
    }
    return (status, "", keepAlive);
}

static int Receive(Socket socket, ref byte[] buffer, int filled)
{
    if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
    var read = socket.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None);
    return read > 0 ? read : throw new IOException("connection closed by the server");
}

static int IndexOf(byte[] buffer, int filled, ReadOnlySpan<byte> value, int from = 0) =>
    buffer.AsSpan(from, filled - from).IndexOf(value) is var at and >= 0 ? at + from : -1;

static string Dechunk(byte[] buffer, int at, int end)
{
    var text = new StringBuilder();
    while (at < end)
    {
        var lineEnd = IndexOf(buffer, end, "\r\n"u8, at);
        var size = Convert.ToInt32(Encoding.ASCII.GetString(buffer, at, lineEnd - at), 16);
        if (size == 0) break;
        text.Append(Encoding.UTF8.GetString(buffer, lineEnd + 2, size));
        at = lineEnd + 2 + size + 2;
    }
    return text.ToString();
}
