using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Platform.Database;
using Npgsql;

namespace Lockstep.Leads;

/// <summary>
/// Sends queued WhatsApp messages through the Cloud API. A batch of due rows is claimed with FOR UPDATE
/// SKIP LOCKED, each row under its own lease token, and sent row by row; right before each send the row's
/// lease is renewed for Lockstep:Leads:Outbox:LeaseMs (at least twice the send timeout), so the lease covers
/// one send and its recording, never a whole batch. A row another instance claimed meanwhile (its lease ran
/// out while the rows before it were sent) is skipped, and every step names the token, so a worker that
/// lost a row never records over its new holder and several server instances never send one message twice.
/// The Cloud API has no idempotency key, so what stands between its 200 and the commit that records it is
/// guarded twice: a failed recording is retried, with backoff, while the lease lasts; and each send carries
/// the message id as biz_opaque_callback_data, which Meta echoes in its status updates, so a later attempt
/// finds a send that was accepted but never recorded (the server died in between) and records it instead.
/// A failed send is classified (WhatsAppCloudApi.ClassifySend: the Cloud API's error code, else its HTTP
/// status; timeouts and network errors are retried) and handed to leads.fail_outbox, which keeps the code
/// and reason on the row and either schedules the retry (RetryBaseDelay doubled per attempt, at most
/// RetryMaxDelay, up to MaxAttempts) or marks the message failed at once.
/// The access token goes into the Authorization header only; it is never logged, nor stored in a failure reason.
/// </summary>
public sealed class WhatsAppOutboxWorker(DatabaseHost database, WhatsAppOptions options, ILogger<WhatsAppOutboxWorker> logger)
    : BackgroundService
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.OutboxEnabled)
        {
            return;
        }
        var outage = new DatabaseOutageLog(logger, "WhatsApp outbox worker");
        while (!stoppingToken.IsCancellationRequested)
        {
            var sent = 0;
            try
            {
                sent = await RunOnceAsync(stoppingToken);
                outage.Reached();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (!outage.IsOutage(e))
                {
                    logger.LogError(e, "WhatsApp outbox pass failed; retrying after the poll interval");
                }
            }
            if (sent < options.BatchSize)
            {
                try
                {
                    await Task.Delay(options.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Claims due rows once and tries each; returns how many were claimed.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        NpgsqlDataSource dataSource;
        try
        {
            dataSource = database.DataSource;
        }
        catch (InvalidOperationException)
        {
            return 0; // the database host has not started yet
        }

        OutboxClaim[] claims;
        await using (var claim = dataSource.CreateCommand("select leads.claim_outbox($1, $2)::text"))
        {
            claim.Parameters.Add(new NpgsqlParameter { Value = options.BatchSize });
            claim.Parameters.Add(new NpgsqlParameter { Value = options.Lease });
            var json = (string)(await claim.ExecuteScalarAsync(cancellationToken))!;
            claims = JsonSerializer.Deserialize(json, LeadsJson.Default.OutboxClaimArray)!;
        }
        await DeliverClaimsAsync(dataSource, claims, cancellationToken);
        return claims.Length;
    }

    /// <summary>
    /// Sends the claimed rows one by one. When the server stops, the send in flight finishes (each send is
    /// bounded by SendTimeout) and the rows not tried yet are released at once instead of waiting out their lease.
    /// </summary>
    public async Task DeliverClaimsAsync(NpgsqlDataSource dataSource, IReadOnlyList<OutboxClaim> claims, CancellationToken stoppingToken)
    {
        for (var i = 0; i < claims.Count; i++)
        {
            if (stoppingToken.IsCancellationRequested)
            {
                var released = 0;
                foreach (var rest in claims.Skip(i))
                {
                    await using var release = dataSource.CreateCommand("select leads.release_outbox($1, $2, $3)");
                    release.Parameters.Add(new NpgsqlParameter { Value = rest.WorkspaceId });
                    release.Parameters.Add(new NpgsqlParameter { Value = rest.OutboxId });
                    release.Parameters.Add(new NpgsqlParameter { Value = rest.LeaseToken });
                    released += await release.ExecuteScalarAsync(CancellationToken.None) is true ? 1 : 0;
                }
                logger.LogInformation("Stopping: released {Released} claimed WhatsApp message(s) not tried yet", released);
                return;
            }
            await DeliverAsync(dataSource, claims[i], CancellationToken.None);
        }
    }

    private async Task DeliverAsync(NpgsqlDataSource dataSource, OutboxClaim claim, CancellationToken cancellationToken)
    {
        // The lease begins in the database after this instant, so a deadline counted from here ends before it does.
        var leaseStarted = Stopwatch.GetTimestamp();
        var begun = await BeginAsync(dataSource, claim, cancellationToken);
        if (begun.Recorded is { } recorded)
        {
            logger.LogInformation("WhatsApp message {MessageId} was accepted as {WaMessageId} by an attempt that was never recorded (Meta's status update says so): recorded, not sent again",
                claim.MessageId, recorded);
            return;
        }
        if (begun.Attempts is not { } attempts)
        {
            logger.LogInformation("WhatsApp message {MessageId} was claimed by another worker before its turn came; skipped", claim.MessageId);
            return;
        }
        var item = claim with { Attempts = attempts };
        if (item.PhoneNumberId is null || item.AccessToken is null)
        {
            await FailAsync(dataSource, item, new SendFailure(false, "whatsapp_not_connected", "The workspace has no WhatsApp connection"), cancellationToken);
            return;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(options.ApiBaseUrl, $"{Uri.EscapeDataString(item.PhoneNumberId)}/messages"))
        {
            Content = JsonContent.Create(CloudMessage.For(item), LeadsJson.Default.CloudMessage),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", item.AccessToken);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.SendTimeout);
        HttpResponseMessage response;
        string text;
        try
        {
            response = await _http.SendAsync(request, timeout.Token);
            text = await response.Content.ReadAsStringAsync(timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            var failure = e is OperationCanceledException
                ? new SendFailure(true, "timeout", $"timeout after {options.SendTimeout.TotalMilliseconds:0} ms")
                : new SendFailure(true, "network_error", $"network error: {e.Message}");
            await FailAsync(dataSource, item, failure, cancellationToken);
            return;
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                var waId = MessageId(text);
                if (waId is null)
                {
                    // Accepted but unreadable: sending again could deliver it twice, so stop here.
                    await FailAsync(dataSource, item, new SendFailure(false, "no_message_id", $"HTTP {status}: the Cloud API answered without a message id"), cancellationToken);
                    return;
                }
                await CompleteAsync(dataSource, item, waId, leaseStarted);
                return;
            }
            await FailAsync(dataSource, item, WhatsAppCloudApi.ClassifySend(status, text), cancellationToken);
        }
    }

    /// <summary>
    /// Records the accepted send, retrying a failed recording with backoff for as long as the row's lease
    /// lasts: given up, the row would be claimed and sent again once the lease ends, so a database error or a
    /// dropped connection here must not end the attempt. A try whose commit went through unseen makes the
    /// next try return true. Past the lease, another worker may hold the row, and only its send counts.
    /// </summary>
    private async Task CompleteAsync(NpgsqlDataSource dataSource, OutboxClaim item, string waId, long leaseStarted)
    {
        var deadline = options.Lease * 0.9;
        var backoff = TimeSpan.FromMilliseconds(100);
        for (var tries = 1; ; tries++)
        {
            try
            {
                using var timeout = new CancellationTokenSource(Remaining());
                await using var complete = dataSource.CreateCommand("select leads.complete_outbox($1, $2, $3, $4)");
                complete.Parameters.Add(new NpgsqlParameter { Value = item.WorkspaceId });
                complete.Parameters.Add(new NpgsqlParameter { Value = item.OutboxId });
                complete.Parameters.Add(new NpgsqlParameter { Value = item.LeaseToken });
                complete.Parameters.Add(new NpgsqlParameter { Value = waId });
                if (await complete.ExecuteScalarAsync(timeout.Token) is true)
                {
                    logger.LogInformation("WhatsApp message {MessageId} sent as {WaMessageId}", item.MessageId, waId);
                }
                else
                {
                    logger.LogWarning("WhatsApp message {MessageId} was sent as {WaMessageId} after another worker had claimed it: it may reach the customer twice",
                        item.MessageId, waId);
                }
                return;
            }
            catch (Exception e) when (e is NpgsqlException or OperationCanceledException)
            {
                if (Remaining() <= backoff)
                {
                    logger.LogError(e, "WhatsApp message {MessageId} was accepted as {WaMessageId} but could not be recorded in {Tries} tries; once its lease ends it is sent again, unless Meta's status update for it is stored first",
                        item.MessageId, waId, tries);
                    return;
                }
                logger.LogWarning(e, "WhatsApp message {MessageId} was accepted as {WaMessageId}; recording it failed (try {Tries}), trying again in {Backoff} ms",
                    item.MessageId, waId, tries, backoff.TotalMilliseconds);
                await Task.Delay(backoff);
                backoff = backoff * 2 < TimeSpan.FromSeconds(2) ? backoff * 2 : TimeSpan.FromSeconds(2);
            }
        }

        TimeSpan Remaining()
        {
            var left = deadline - Stopwatch.GetElapsedTime(leaseStarted);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>
    /// Renews the row's lease for one send and counts the attempt (Attempts); neither when another worker
    /// holds the row now, or when the row turned out to be sent already (Recorded, its wamid).
    /// </summary>
    private async Task<(int? Attempts, string? Recorded)> BeginAsync(NpgsqlDataSource dataSource, OutboxClaim item, CancellationToken cancellationToken)
    {
        await using var begin = dataSource.CreateCommand("select leads.begin_outbox_attempt($1, $2, $3, $4)::text");
        begin.Parameters.Add(new NpgsqlParameter { Value = item.WorkspaceId });
        begin.Parameters.Add(new NpgsqlParameter { Value = item.OutboxId });
        begin.Parameters.Add(new NpgsqlParameter { Value = item.LeaseToken });
        begin.Parameters.Add(new NpgsqlParameter { Value = options.Lease });
        using var begun = JsonDocument.Parse((string)(await begin.ExecuteScalarAsync(cancellationToken))!);
        var root = begun.RootElement;
        return root.GetProperty("started").GetBoolean()
            ? (root.GetProperty("attempts").GetInt32(), null)
            : (null, root.TryGetProperty("recorded", out var recorded) ? recorded.GetString() : null);
    }

    private async Task FailAsync(NpgsqlDataSource dataSource, OutboxClaim item, SendFailure failure, CancellationToken cancellationToken)
    {
        // The Cloud API may quote the token back ("Malformed access token ..."); the reason is logged,
        // and stored where every member of the workspace can read it.
        var reason = item.AccessToken is { Length: > 0 } token
            ? failure.Message.Replace(token, "[access token]", StringComparison.Ordinal)
            : failure.Message;
        await using var fail = dataSource.CreateCommand("select leads.fail_outbox($1, $2, $3, $4, $5, $6, $7, $8, $9)::text");
        fail.Parameters.Add(new NpgsqlParameter { Value = item.WorkspaceId });
        fail.Parameters.Add(new NpgsqlParameter { Value = item.OutboxId });
        fail.Parameters.Add(new NpgsqlParameter { Value = item.LeaseToken });
        fail.Parameters.Add(new NpgsqlParameter { Value = failure.Retryable });
        fail.Parameters.Add(new NpgsqlParameter { Value = failure.Code });
        fail.Parameters.Add(new NpgsqlParameter { Value = reason });
        fail.Parameters.Add(new NpgsqlParameter { Value = options.RetryBaseDelay });
        fail.Parameters.Add(new NpgsqlParameter { Value = options.RetryMaxDelay });
        fail.Parameters.Add(new NpgsqlParameter { Value = options.MaxAttempts });
        using var outcome = JsonDocument.Parse((string)(await fail.ExecuteScalarAsync(cancellationToken))!);
        var root = outcome.RootElement;
        logger.LogWarning("WhatsApp message {MessageId} attempt {Attempt} failed ({Code}: {Reason}); {Next}",
            item.MessageId, item.Attempts, failure.Code, reason,
            !root.GetProperty("recorded").GetBoolean() ? "another worker holds it now"
            : root.GetProperty("status").GetString() == "failed" ? "marked failed"
            : $"next attempt at {root.GetProperty("next_attempt_at").GetString()}");
    }

    private static string? MessageId(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array
                   && messages.GetArrayLength() > 0 && messages[0].TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}

public sealed record OutboxClaim(Guid WorkspaceId, Guid OutboxId, Guid LeaseToken, Guid MessageId, int Attempts, string Recipient, string Body,
    OutboxTemplate? Template, string? PhoneNumberId, string? AccessToken);

public sealed record OutboxTemplate(string Name, string Language, string[] Parameters);

/// <summary>
/// A Cloud API send: a text, or a template (the only kind delivered outside the 24-hour window). Meta echoes
/// <paramref name="BizOpaqueCallbackData"/> (the message id) in the send's status updates.
/// </summary>
public sealed record CloudMessage(
    string MessagingProduct,
    string To,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CloudText? Text,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CloudTemplate? Template,
    string BizOpaqueCallbackData)
{
    public static CloudMessage For(OutboxClaim item)
    {
        var to = item.Recipient.TrimStart('+');
        if (item.Template is not { } template)
        {
            return new CloudMessage("whatsapp", to, "text", new CloudText(item.Body), null, item.MessageId.ToString());
        }
        CloudComponent[]? components = template.Parameters.Length == 0
            ? null
            : [new CloudComponent("body", [.. template.Parameters.Select(text => new CloudParameter("text", text))])];
        return new CloudMessage("whatsapp", to, "template", null,
            new CloudTemplate(template.Name, new CloudLanguage(template.Language), components), item.MessageId.ToString());
    }
}

public sealed record CloudText(string Body);

public sealed record CloudTemplate(
    string Name, CloudLanguage Language, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CloudComponent[]? Components);

public sealed record CloudLanguage(string Code);

public sealed record CloudComponent(string Type, CloudParameter[] Parameters);

public sealed record CloudParameter(string Type, string Text);
