using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Lockstep.Tests.Platform.Database;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Leads;

/// <summary>
/// The real server process (<c>dotnet lockstep.dll serve</c>) killed with SIGKILL after the Cloud API has a
/// send and before the server could record it, then started again. Requests are counted at the stand-in.
/// </summary>
public sealed class WhatsAppOutboxCrashTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Worker_WhenTheServerDiesAfterTheCloudApiAcceptedAndTheSentStatusCame_TheRestartedServerRecordsThatSendInsteadOfSendingAgain()
    {
        await using var cloudApi = new CloudApiStandIn();
        await cloudApi.StartAsync();
        var owner = Guid.NewGuid();
        var workspace = (await CallAsync(owner, "select public.create_workspace('Crash')")).GetProperty("workspace_id").GetGuid();
        var phoneNumberId = Random.Shared.NextInt64(100_000_000_000, 999_999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await CallAsync(owner, "select leads.store_whatsapp_connection($1, $2, 'crash-token')::text", workspace, phoneNumberId);
        await LeadsServerFixture.CustomerWroteAsync(db, phoneNumberId, "+15551230701");
        var message = (await CallAsync(owner, "select public.send_whatsapp_message(p_workspace_id => $1, p_to => '+15551230701', p_message => 'Once')", workspace))
            .GetProperty("message_id").GetGuid();
        Process? server = null;
        // Meta has the message once the request arrived: the server is killed before it reads the 200.
        cloudApi.Script(phoneNumberId, new CloudApiStandIn.Reply(200, CloudApiStandIn.Accepted("wamid.CRASH"), Arrived: () => server!.Kill()));
        var port = ClusterFolder.FreePort();

        server = Start(port, cloudApi.BaseUrl, out var firstLog);
        using (var waited = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            await server.WaitForExitAsync(waited.Token);
        }
        server.Dispose();
        var sent = Assert.Single(cloudApi.ReceivedFor(phoneNumberId));
        Assert.Equal("queued", await db.ScalarAsync<string>("select status from leads.messages where workspace_id = $1 and id = $2", workspace, message));
        // Meta's "sent" status for it reaches another instance while this one is down.
        var callback = sent.Body.TryGetProperty("biz_opaque_callback_data", out var data) ? data.GetString() : null;
        await db.ScalarAsUserAsync<string>(null, "select leads.ingest_whatsapp($1::jsonb)::text",
            LeadsServerFixture.StatusPayload(phoneNumberId, "wamid.CRASH", "sent", callback));

        server = Start(port, cloudApi.BaseUrl, out var secondLog);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (DateTime.UtcNow < deadline && cloudApi.ReceivedFor(phoneNumberId).Count == 1
                   && await db.ScalarAsync<long>("select count(*) from leads.outbox where workspace_id = $1 and done_at is null", workspace) > 0)
            {
                await Task.Delay(100);
            }
            await Task.Delay(1000); // a resend still in flight reaches the stand-in in this time
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
            server.Dispose();
        }

        Assert.True(cloudApi.ReceivedFor(phoneNumberId).Count == 1,
            $"sent {cloudApi.ReceivedFor(phoneNumberId).Count} times\nfirst run:\n{firstLog}\nsecond run:\n{secondLog}");
        Assert.Equal("sent wamid.CRASH", await db.ScalarAsync<string>(
            "select status || ' ' || coalesce(wa_message_id, '-') from leads.messages where workspace_id = $1 and id = $2", workspace, message));
    }

    private async Task<JsonElement> CallAsync(Guid user, string sql, params object?[] args)
    {
        var result = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(user, sql, args)).RootElement.Clone();
        Assert.True(result.GetProperty("success").GetBoolean(), result.ToString());
        return result;
    }

    /// <summary>Starts the server with its outbox worker polling fast, a 4 s lease, and the stand-in as the Cloud API.</summary>
    private Process Start(int port, Uri cloudApi, out StringBuilder log)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "lockstep.dll"), "serve", "--urls", $"http://127.0.0.1:{port}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ConnectionStrings__Lockstep"] = db.ConnectionString,
                ["Lockstep__JwtSecret"] = ServerFixture.JwtSecret,
                ["Lockstep__Sessions__AutoCompleteInterval"] = "0",
                ["Lockstep__WhatsApp__ApiBaseUrl"] = cloudApi.ToString(),
                ["Lockstep__Leads__Outbox__PollIntervalMs"] = "100",
                ["Lockstep__Leads__Outbox__SendTimeoutMs"] = "1000",
                ["Lockstep__Leads__Outbox__LeaseMs"] = "4000",
                ["Logging__LogLevel__Default"] = "Warning",
                ["Logging__LogLevel__Lockstep.Leads"] = "Information",
            },
        };
        var process = Process.Start(start)!;
        var lines = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (lines) { lines.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (lines) { lines.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        log = lines;
        return process;
    }
}
