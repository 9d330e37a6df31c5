// lockstep-load: the HTTP half of bench/run. C closed loops (one keep-alive connection each) send one
// scenario's requests for S seconds; at the deadline no new request starts and the ones in flight are
// awaited, so "ok" is exactly the number of requests the server answered with success — the number
// the SQL invariant check compares with what was written.
// usage: lockstep-load scenario=lead|use|use_ws|rpc_use|webhook|pledge|list base=http://127.0.0.1:5091 seconds=5 concurrency=16
//        [token=JWT] [workspace=uuid] [pack=uuid] [packs=10000] [secret=app-secret] [phone_number_id=...]
//        [run=tag] [customers=500]
// Its CPU competes with the server and PostgreSQL on the same cores, so a request costs as little as it
// can: each thread writes its requests' bytes into its own buffer (a fixed request once, a varying one
// by writing only what varies: the pack id, the body, its length, its signature) and reads the answer
// as bytes, decoding the body into a string only when a failure (or a non-true rpc answer) needs it.
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

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
var uri = new Uri(baseUrl);
var authorization = Opt("token") is { Length: > 0 } bearer ? "Authorization: Bearer " + bearer + "\r\n" : "";

var plan = Plan.Create(scenario, baseUrl, uri.Authority, authorization, workspace, pack, packs);
plan.PhoneBase = phoneBase;
plan.Customers = customers;
plan.Run = run;
plan.PhoneNumberId = phoneNumberId;
plan.Secret = secret;
var rpc = scenario == "rpc_use";   // rpc_use answers 200 with true or false; only true consumed a session.
var counter = -1L;
new RequestWriter(plan).Next(0);   // compiles the request writing (and loads the HMAC) before the CPU is measured; sends nothing

var deadline = TimeSpan.FromSeconds(seconds);
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
    var writer = new RequestWriter(plan);
    Socket? socket = null;
    while (clock.Elapsed < deadline)
    {
        var request = writer.Next(Interlocked.Increment(ref counter));
        var started = Stopwatch.GetTimestamp();
        string outcome;
        try
        {
            if (socket is null)
            {
                socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socket.Connect(uri.Host, uri.Port);
            }
            socket.Send(request);
            var response = Http.ReadResponse(socket, ref buffer);
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (!response.KeepAlive)
            {
                socket.Dispose();
                socket = null;
            }
            if (response.Status is >= 200 and < 300 && (!rpc || response.BodyIsTrue(buffer)))
            {
                ok[i]++;
                continue;
            }
            var body = response.Body(buffer);
            outcome = response.Status.ToString(CultureInfo.InvariantCulture) + (response.Status >= 400 && body.Contains("\"code\"") ? ":" + Http.CodeOf(body) : rpc ? ":" + body : "");
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

enum Shape { Fixed, Pack, Lead, Webhook, Pledge }

// What every request of a scenario shares, serialised once: the whole request when it never changes, or
// the bytes before and after the part that varies. The bytes are what HttpRequestMessage gave before,
// sent as "METHOD path HTTP/1.1", Host, the bearer token, the request's own headers, Content-Type,
// Content-Length (for any content or any non-GET), a blank line, the body.
sealed class Plan
{
    public Shape Shape;
    public byte[] Template = [];   // Fixed, Pack: the whole request; Lead, Webhook, Pledge: the bytes before what varies
    public int VariableAt;         // Pack: where the pack id's 12 digits start
    public byte[] Suffix = [];     // Webhook: from after the signature to "Content-Length: "; Pledge: from after the item id to the body's end
    public int Packs;
    public long PhoneBase;
    public int Customers;
    public string Run = "";
    public string PhoneNumberId = "";
    public byte[] Secret = [];

    // The deterministic pack ids bench/run seeds: 00000000-0000-4000-8000-<n as 12 digits>, n in 1..packs.
    public static string PackId(int n) => "00000000-0000-4000-8000-" + n.ToString("D12", CultureInfo.InvariantCulture);
    const string FirstItem = "00000000-0000-4000-9000-000000000001";
    const string Signature = "X-Hub-Signature-256: sha256=";

    public static Plan Create(string scenario, string baseUrl, string authority, string authorization, string workspace, string pack, int packs)
    {
        // The head, as the HttpRequestMessage serialisation wrote it; contentLength null = no content.
        string Head(string method, string url, string requestHeaders = "", string? contentLength = null) =>
            method + " " + new Uri(url).PathAndQuery + " HTTP/1.1\r\nHost: " + authority + "\r\n" + authorization + requestHeaders +
            (contentLength is null ? "" : "Content-Type: application/json\r\n") +
            (contentLength is not null || method != "GET" ? "Content-Length: " + (contentLength ?? "0") + "\r\n" : "") + "\r\n";
        static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
        static byte[] Utf8Bytes(string text) => Encoding.UTF8.GetBytes(text);
        var id = packs > 0 ? PackId(1) : pack;
        switch (scenario)
        {
            case "use" or "use_ws":
            {
                // use_ws: the workspace form of the route, which Citus routes whole to the worker holding the workspace.
                var prefix = scenario == "use_ws" ? $"/api/workspaces/{workspace}" : "/api";
                var bytes = Ascii(Head("POST", $"{baseUrl}{prefix}/purchases/{id}/use"));
                return packs > 0
                    ? new Plan { Shape = Shape.Pack, Template = bytes, Packs = packs, VariableAt = bytes.AsSpan().IndexOf(Ascii(id)) + 24 }
                    : new Plan { Shape = Shape.Fixed, Template = bytes };
            }
            case "rpc_use":
            {
                var body = Utf8Bytes($$"""{"p_purchase_id":"{{id}}"}""");
                byte[] bytes = [.. Ascii(Head("POST", $"{baseUrl}/rest/v1/rpc/use_session", "", body.Length.ToString(CultureInfo.InvariantCulture))), .. body];
                return packs > 0
                    ? new Plan { Shape = Shape.Pack, Template = bytes, Packs = packs, VariableAt = bytes.AsSpan().LastIndexOf(Ascii(id)) + 24 }
                    : new Plan { Shape = Shape.Fixed, Template = bytes };
            }
            case "list":
                return new Plan { Shape = Shape.Fixed, Template = Ascii(Head("GET", $"{baseUrl}/api/workspaces/{workspace}/clients")) };
            case "lead":
                return new Plan { Shape = Shape.Lead, Template = Ascii(Head("POST", $"{baseUrl}/api/workspaces/{workspace}/leads", "", ""))[..^4] };
            case "webhook":
            {
                var head = Head("POST", $"{baseUrl}/api/webhooks/whatsapp", Signature + new string('0', 64) + "\r\n", "");
                var at = head.IndexOf(Signature, StringComparison.Ordinal) + Signature.Length;
                return new Plan { Shape = Shape.Webhook, Template = Ascii(head[..at]), Suffix = Ascii(head[(at + 64)..^4]) };
            }
            case "pledge":
            {
                var head = Head("POST", $"{baseUrl}/api/wishlist-items/{FirstItem}/pledges", "", "15");
                var at = head.IndexOf(FirstItem, StringComparison.Ordinal) + 24;
                return new Plan { Shape = Shape.Pledge, Template = Ascii(head[..at]), Suffix = [.. Ascii(head[(at + 12)..]), .. """{"amount":1.00}"""u8] };
            }
            default:
                throw new ArgumentException($"unknown scenario '{scenario}'");
        }
    }
}

// One per thread: its own copy of the plan's bytes, in which each request writes only what varies.
sealed class RequestWriter(Plan plan)
{
    byte[] request = [.. plan.Template, .. new byte[plan.Shape is Shape.Fixed or Shape.Pack ? 0 : 4096]];
    byte[] body = new byte[1024];
    readonly IncrementalHash? hmac = plan.Shape is Shape.Webhook ? IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, plan.Secret) : null;   // keyed once

    // n: the request's number (the Interlocked counter), for the ids and bodies that vary with it.
    public ReadOnlySpan<byte> Next(long n)
    {
        switch (plan.Shape)
        {
            case Shape.Fixed:
                return request;
            case Shape.Pack:
                Random.Shared.Next(1, plan.Packs + 1).TryFormat(request.AsSpan(plan.VariableAt, 12), out _, "D12", CultureInfo.InvariantCulture);
                return request;
            case Shape.Lead:
            {
                int length;
                while (!Utf8.TryWrite(body, CultureInfo.InvariantCulture, $$"""{"customer_phone":"+{{plan.PhoneBase + n}}","customer_name":"Bench {{n}}","type":"inquiry"}""", out length)) Grow(ref body);
                return WithBody(plan.Template.Length, length);
            }
            case Shape.Webhook:
            {
                var from = 15550000000L + n % plan.Customers;
                int length;
                while (!Utf8.TryWrite(body, CultureInfo.InvariantCulture,
                    $"{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"bench\",\"changes\":[{{\"field\":\"messages\",\"value\":{{" +
                    $"\"messaging_product\":\"whatsapp\",\"metadata\":{{\"display_phone_number\":\"15550000000\",\"phone_number_id\":\"{plan.PhoneNumberId}\"}}," +
                    $"\"contacts\":[{{\"profile\":{{\"name\":\"Customer {from}\"}},\"wa_id\":\"{from}\"}}]," +
                    $"\"messages\":[{{\"from\":\"{from}\",\"id\":\"wamid.http.{plan.Run}.{n}" +
                    $"\",\"timestamp\":\"1731000000\",\"type\":\"text\",\"text\":{{\"body\":\"Message {n}\"}}}}]}}}}]}}]}}", out length)) Grow(ref body);
                Span<byte> hash = stackalloc byte[32];
                hmac!.AppendData(body.AsSpan(0, length));   // X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body, lowercase hex>
                hmac.GetHashAndReset(hash);
                var at = plan.Template.Length;
                EnsureCapacity(at + 64 + plan.Suffix.Length);
                foreach (var b in hash)
                {
                    request[at++] = "0123456789abcdef"u8[b >> 4];
                    request[at++] = "0123456789abcdef"u8[b & 15];
                }
                plan.Suffix.CopyTo(request, at);
                return WithBody(at + plan.Suffix.Length, length);
            }
            case Shape.Pledge:
            {
                var at = plan.Template.Length;
                (n + 1).TryFormat(request.AsSpan(at), out var written, "D12", CultureInfo.InvariantCulture);   // at most 20 digits: the 4 KiB spare fits them
                at += written;
                EnsureCapacity(at + plan.Suffix.Length);
                plan.Suffix.CopyTo(request, at);
                return request.AsSpan(0, at + plan.Suffix.Length);
            }
            default:
                throw new UnreachableException();
        }
    }

    // From at (just after "Content-Length: "): the body's length, the blank line, the body written in body[..length].
    ReadOnlySpan<byte> WithBody(int at, int length)
    {
        EnsureCapacity(at + 10 + 4 + length);
        length.TryFormat(request.AsSpan(at), out var written, default, CultureInfo.InvariantCulture);
        at += written;
        "\r\n\r\n"u8.CopyTo(request.AsSpan(at));
        at += 4;
        body.AsSpan(0, length).CopyTo(request.AsSpan(at));
        return request.AsSpan(0, at + length);
    }

    void EnsureCapacity(int size)
    {
        if (request.Length < size) Array.Resize(ref request, Math.Max(size, request.Length * 2));
    }

    static void Grow(ref byte[] buffer) => Array.Resize(ref buffer, buffer.Length * 2);
}

// One response, read into the thread's buffer: the body is buffer[BodyStart..BodyEnd] (chunked: still framed).
readonly record struct Response(int Status, bool KeepAlive, int BodyStart, int BodyEnd, bool Chunked)
{
    public string Body(byte[] buffer) =>
        Chunked ? Http.Dechunk(buffer, BodyStart, BodyEnd) : Encoding.UTF8.GetString(buffer, BodyStart, BodyEnd - BodyStart);

    public bool BodyIsTrue(byte[] buffer) => Chunked ? Body(buffer) == "true" : buffer.AsSpan(BodyStart..BodyEnd).SequenceEqual("true"u8);
}

static class Http
{
    // Reads one response: headers, then a Content-Length body or a chunked body up to its last chunk.
    public static Response ReadResponse(Socket socket, ref byte[] buffer)
    {
        var filled = 0;
        int headerEnd;
        while ((headerEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
        {
            filled += Receive(socket, ref buffer, filled);
        }
        ReadOnlySpan<byte> head = buffer.AsSpan(0, headerEnd);
        var status = int.Parse(head.Slice(9, 3), CultureInfo.InvariantCulture);
        var keepAlive = true;
        var chunked = false;
        var length = -1;
        // The header lines after the status line (as "\r\nName:" matches, case-insensitively).
        var lineEnd = head.IndexOf("\r\n"u8);
        while (lineEnd >= 0)
        {
            head = head[(lineEnd + 2)..];
            lineEnd = head.IndexOf("\r\n"u8);
            var line = lineEnd >= 0 ? head[..lineEnd] : head;
            if (StartsWithIgnoreCase(line, "Connection: close"u8)) keepAlive = false;
            if (length < 0 && StartsWithIgnoreCase(line, "Content-Length:"u8)) length = int.Parse(line[15..][Ascii.Trim(line[15..])], CultureInfo.InvariantCulture);
            if (StartsWithIgnoreCase(line, "Transfer-Encoding: chunked"u8)) chunked = true;
        }
        var bodyStart = headerEnd + 4;
        if (length >= 0)
        {
            while (filled < bodyStart + length) filled += Receive(socket, ref buffer, filled);
            return new Response(status, keepAlive, bodyStart, bodyStart + length, false);
        }
        if (chunked)
        {
            while (filled - bodyStart < 5 || !buffer.AsSpan(0, filled).EndsWith("0\r\n\r\n"u8)) filled += Receive(socket, ref buffer, filled);
            return new Response(status, keepAlive, bodyStart, filled, true);
        }
        return new Response(status, keepAlive, bodyStart, bodyStart, false);
    }

    static bool StartsWithIgnoreCase(ReadOnlySpan<byte> line, ReadOnlySpan<byte> prefix) =>
        line.Length >= prefix.Length && Ascii.EqualsIgnoreCase(line[..prefix.Length], prefix);

    static int Receive(Socket socket, ref byte[] buffer, int filled)
    {
        if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
        var read = socket.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None);
        return read > 0 ? read : throw new IOException("connection closed by the server");
    }

    public static string CodeOf(string body)
    {
        var at = body.IndexOf("\"code\":\"", StringComparison.Ordinal);
        if (at < 0) return "?";
        at += 8;
        var end = body.IndexOf('"', at);
        return end < 0 ? "?" : body[at..end];
    }

    public static string Dechunk(byte[] buffer, int at, int end)
    {
        var text = new StringBuilder();
        while (at < end)
        {
            var lineEnd = buffer.AsSpan(at, end - at).IndexOf("\r\n"u8) is var found and >= 0 ? found + at : -1;
            var size = Convert.ToInt32(Encoding.ASCII.GetString(buffer, at, lineEnd - at), 16);
            if (size == 0) break;
            text.Append(Encoding.UTF8.GetString(buffer, lineEnd + 2, size));
            at = lineEnd + 2 + size + 2;
        }
        return text.ToString();
    }
}
