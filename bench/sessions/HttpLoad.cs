#:property PublishAot=false
// POSTs one JSON body to one URL from N concurrent loops for a duration; prints requests/s and latency.
// usage: dotnet run HttpLoad.cs -- URL TOKEN BODY SECONDS CONNECTIONS
using System.Diagnostics;
using System.Net.Http.Headers;

var (url, token, body, seconds, connections) = (args[0], args[1], args[2], int.Parse(args[3]), int.Parse(args[4]));
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections });
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
var stop = Stopwatch.StartNew();
var deadline = TimeSpan.FromSeconds(seconds);
var latencies = new List<double>[connections];
var errors = 0;
var results = new Dictionary<string, int>();
await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
{
    latencies[i] = [];
    while (stop.Elapsed < deadline)
    {
        var started = stop.Elapsed;
        using var response = await http.PostAsync(url, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        latencies[i].Add((stop.Elapsed - started).TotalMilliseconds);
        if (!response.IsSuccessStatusCode) Interlocked.Increment(ref errors);
        lock (results) { results[text] = results.GetValueOrDefault(text) + 1; }
    }
}));
var all = latencies.SelectMany(l => l).Order().ToArray();
Console.WriteLine($"http: {all.Length} requests in {stop.Elapsed.TotalSeconds:F1} s = {all.Length / stop.Elapsed.TotalSeconds:F0} req/s, " +
    $"p50 {all[all.Length / 2]:F2} ms, p99 {all[(int)(all.Length * 0.99)]:F2} ms, errors {errors}, bodies {string.Join(", ", results.Select(r => $"{r.Key}×{r.Value}"))}");
