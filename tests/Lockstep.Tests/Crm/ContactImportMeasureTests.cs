using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Lockstep.Tests.Support;
using Xunit.Abstractions;

namespace Lockstep.Tests.Crm;

/// <summary>
/// Measures a 10,000-row CSV import through the route, then the same file again. Print the figures with:
/// dotnet test Lockstep.slnx --filter "FullyQualifiedName~ContactImportMeasureTests" --logger "console;verbosity=detailed"
/// </summary>
public sealed class ContactImportMeasureTests(ServerFixture server, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task ImportContacts_With10000Rows_CountsEveryRowAndTheRerunCreatesNothing()
    {
        // 9,500 distinct phones, 300 of them repeated in another spelling, 200 rejected rows.
        var csv = new StringBuilder("name,phone,email\n");
        for (var i = 0; i < 9500; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"Contact {i},+44 7700 {i:D6},c{i}@example.test\n");
        }
        for (var i = 0; i < 300; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"Again {i},0044-7700-{i:D6},\n");
        }
        for (var i = 0; i < 200; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"Bad {i},call me {i},\n");
        }
        var owner = Guid.NewGuid();
        var workspace = await server.WorkspaceAsync(owner);
        var client = server.Client(owner);
        client.Timeout = TimeSpan.FromMinutes(2);
        var url = $"/api/workspaces/{workspace}/contacts:import";

        var first = await TimedImportAsync(client, url, csv.ToString());
        var second = await TimedImportAsync(client, url, csv.ToString());

        output.WriteLine($"first run:  {first.Elapsed.TotalMilliseconds:F0} ms, created {first.Counts[0]}, existing {first.Counts[1]}, rejected {first.Counts[2]}");
        output.WriteLine($"second run: {second.Elapsed.TotalMilliseconds:F0} ms, created {second.Counts[0]}, existing {second.Counts[1]}, rejected {second.Counts[2]}");
        Assert.Equal([9500, 300, 200], first.Counts);
        Assert.Equal([0, 9800, 200], second.Counts);
        Assert.Equal(9500L, await server.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace));
    }

    private static async Task<(TimeSpan Elapsed, int[] Counts)> TimedImportAsync(HttpClient client, string url, string csv)
    {
        var watch = Stopwatch.StartNew();
        var response = await client.PostAsync(url, Http.Json(csv, "text/csv"));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        watch.Stop();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(10000, body.GetProperty("rows").GetArrayLength());
        return (watch.Elapsed, [body.GetProperty("created").GetInt32(), body.GetProperty("existing").GetInt32(), body.GetProperty("rejected").GetInt32()]);
    }
}
