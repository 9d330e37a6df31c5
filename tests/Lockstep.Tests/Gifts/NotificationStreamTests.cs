using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>The live stream over a real socket: a claim made elsewhere arrives as an SSE event; Last-Event-ID replays.</summary>
public sealed class NotificationStreamTests(KestrelServerFixture server, ITestOutputHelper output) : IClassFixture<KestrelServerFixture>
{
    private HttpClient StreamClient(Guid user)
    {
        var client = new HttpClient { BaseAddress = ListeningAddress(), Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.Jwt.Mint(user, TimeSpan.FromHours(1)));
        return client;
    }

    /// <summary>The loopback address Kestrel actually bound (port 0 picks a free one).</summary>
    private Uri ListeningAddress() => new(server.Factory.Services.GetRequiredService<IServer>()
        .Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());

    /// <summary>The server's LISTEN connections on this database, once one is up (another test may have just killed it).</summary>
    private async Task<long> ListenersAsync()
    {
        const string Count = "select count(*) from pg_stat_activity where datname = current_database() and query ilike 'listen %'";
        for (var attempt = 0; attempt < 50 && await server.ScalarAsync<long>(Count) == 0; attempt++)
        {
            await Task.Delay(100);
        }
        return await server.ScalarAsync<long>(Count);
    }

    private sealed record SseEvent(string? Id, string? Event, string Data);

    /// <summary>Reads the stream until <paramref name="count"/> events (comments skipped) or the deadline.</summary>
    private static async Task<List<SseEvent>> ReadEventsAsync(StreamReader reader, int count, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        var events = new List<SseEvent>();
        string? id = null, name = null;
        var data = new List<string>();
        while (events.Count < count)
        {
            var line = await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException();
            if (line.Length == 0)
            {
                if (data.Count > 0)
                {
                    events.Add(new SseEvent(id, name, string.Join('\n', data)));
                }
                id = name = null;
                data.Clear();
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(line[6..]);
            }
        }
        return events;
    }

    private async Task<(HttpResponseMessage Response, StreamReader Reader)> ConnectAsync(HttpClient client, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/notifications/stream");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(": connected", await reader.ReadLineAsync());
        return (response, reader);
    }

    [Fact]
    public async Task Stream_WhenAnotherMemberClaims_DeliversTheEventWithinASecond()
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var item = await group.AddItemAsync(server, 30m, "Lamp");
        using var client = StreamClient(group.Others[0]);
        var (response, reader) = await ConnectAsync(client);
        using var _ = response;

        var clock = Stopwatch.StartNew();
        using var claimerClient = StreamClient(group.Claimer);
        var claimed = await claimerClient.PostAsync($"/api/wishlist-items/{item}/claim", null);
        claimed.EnsureSuccessStatusCode();
        var events = await ReadEventsAsync(reader, 1, TimeSpan.FromSeconds(5));
        clock.Stop();

        output.WriteLine($"claim response to event received: {clock.ElapsedMilliseconds} ms");
        var notification = JsonDocument.Parse(events[0].Data).RootElement;
        Assert.Equal("notification", events[0].Event);
        Assert.Equal($"{group.Workspace}:{notification.GetProperty("recipient_seq").GetInt64()}", events[0].Id);
        Assert.Equal("item_claimed", notification.GetProperty("type").GetString());
        Assert.Equal(item, notification.GetProperty("data").GetProperty("item_id").GetGuid());
        Assert.Equal("Claire Claimer", notification.GetProperty("data").GetProperty("claimer_name").GetString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Stream_WhenReconnectingWithLastEventId_ReplaysWhatWasMissedInOrder()
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var items = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            items.Add(await group.AddItemAsync(server, 30m, $"Item {i}"));
        }
        using var client = StreamClient(group.Others[0]);
        string lastId;
        {
            var (response, reader) = await ConnectAsync(client);
            using var _ = response;
            AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", items[0]));
            lastId = (await ReadEventsAsync(reader, 1, TimeSpan.FromSeconds(5)))[0].Id!;
        }
        // Missed while disconnected.
        for (var i = 1; i < 4; i++)
        {
            AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", items[i]));
        }

        var (again, replay) = await ConnectAsync(client, lastId);
        using var __ = again;
        var events = await ReadEventsAsync(replay, 3, TimeSpan.FromSeconds(5));

        Assert.Equal($"{group.Workspace}:1", lastId);
        Assert.Equal(items.Skip(1), events.Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("data").GetProperty("item_id").GetGuid()));
        Assert.Equal([$"{group.Workspace}:2", $"{group.Workspace}:3", $"{group.Workspace}:4"], events.Select(e => e.Id));
    }

    [Fact]
    public async Task Stream_WhenReconnectingWithACursorOverTwoWorkspaces_ReplaysWhatWasMissedInEach()
    {
        // R is a member of two gift groups; the last event id R saw covers both.
        var first = await GiftGroup.CreateAsync(server, others: 1);
        var second = await GiftGroup.CreateAsync(server, others: 0);
        var recipient = first.Others[0];
        AssertSuccess(await CallAsync(server, second.Celebrant, "select public.add_member($1, $2, 'member', 'Member 0')", second.Workspace, recipient));
        var firstItems = new List<Guid>();
        var secondItems = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            firstItems.Add(await first.AddItemAsync(server, 30m, $"First {i}"));
            secondItems.Add(await second.AddItemAsync(server, 30m, $"Second {i}"));
        }
        using var client = StreamClient(recipient);
        string lastId;
        {
            var (response, reader) = await ConnectAsync(client);
            using var _ = response;
            AssertSuccess(await CallAsync(server, first.Claimer, "select public.claim_item($1)", firstItems[0]));
            AssertSuccess(await CallAsync(server, second.Claimer, "select public.claim_item($1)", secondItems[0]));
            lastId = (await ReadEventsAsync(reader, 2, TimeSpan.FromSeconds(5)))[1].Id!;
        }
        for (var i = 1; i < 3; i++)
        {
            AssertSuccess(await CallAsync(server, second.Claimer, "select public.claim_item($1)", secondItems[i]));
            AssertSuccess(await CallAsync(server, first.Claimer, "select public.claim_item($1)", firstItems[i]));
        }

        var (again, replay) = await ConnectAsync(client, lastId);
        using var __ = again;
        var events = await ReadEventsAsync(replay, 4, TimeSpan.FromSeconds(5));

        Assert.Equal(string.Join(',', new[] { $"{first.Workspace}:1", $"{second.Workspace}:1" }.Order(StringComparer.Ordinal)), lastId);
        var replayed = events.Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.Equal(firstItems.Skip(1), replayed.Where(n => n.GetProperty("workspace_id").GetGuid() == first.Workspace)
            .Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()));
        Assert.Equal(secondItems.Skip(1), replayed.Where(n => n.GetProperty("workspace_id").GetGuid() == second.Workspace)
            .Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()));
        Assert.Equal(string.Join(',', new[] { $"{first.Workspace}:3", $"{second.Workspace}:3" }.Order(StringComparer.Ordinal)), events[^1].Id);
    }

    [Fact]
    public async Task Stream_WhenLastEventIdIsAnOlderNumericSeq_ReplaysEverythingAfterIt()
    {
        // A client that connected before event ids became cursors resumes with the global seq it last saw.
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var items = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            items.Add(await group.AddItemAsync(server, 30m, $"Item {i}"));
            AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", items[i]));
        }
        var seen = await server.ScalarAsync<long>(
            "select seq from gifts.notifications where recipient_id = $1 and (data ->> 'item_id')::uuid = $2", group.Others[0], items[0]);
        using var client = StreamClient(group.Others[0]);

        var (response, reader) = await ConnectAsync(client, seen.ToString());
        using var _ = response;
        var events = await ReadEventsAsync(reader, 2, TimeSpan.FromSeconds(5));

        Assert.Equal(items.Skip(1), events.Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("data").GetProperty("item_id").GetGuid()));
        Assert.Equal([$"{group.Workspace}:2", $"{group.Workspace}:3"], events.Select(e => e.Id));
    }

    [Fact]
    public async Task Stream_WhenTwoClaimsNotifyOneMemberAndTheFirstToInsertCommitsLast_DeliversBoth()
    {
        // Two serving-role connections claim in their own transactions, both notifying R, who listens.
        // The first inserts; the second inserts and commits as soon as it can; if it got through, R's
        // stream sends it before the first commits (with a seq taken at insert, the stream then passed
        // the first for good). Then the first commits.
        var group = await GiftGroup.CreateAsync(server, others: 2);
        var (recipient, second) = (group.Others[0], group.Others[1]);
        AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", await group.AddItemAsync(server, 10m, "Before")));
        var firstItem = await group.AddItemAsync(server, 10m, "First");
        var secondItem = await group.AddItemAsync(server, 10m, "Second");
        using var client = StreamClient(recipient);
        var (response, reader) = await ConnectAsync(client);
        using var _ = response;

        await using var firstConnection = await server.ServingDataSource.OpenConnectionAsync();
        await using var secondConnection = await server.ServingDataSource.OpenConnectionAsync();
        await using var firstTransaction = await firstConnection.BeginTransactionAsync();
        AssertSuccess(await CallAsync(firstTransaction, group.Claimer, "select public.claim_item($1)", firstItem));
        var secondClaim = Task.Run(async () =>
        {
            await using var transaction = await secondConnection.BeginTransactionAsync();
            var claimed = await CallAsync(transaction, second, "select public.claim_item($1)", secondItem);
            await transaction.CommitAsync();
            return claimed;
        });
        var events = new List<SseEvent>();
        if (!await server.WaitsOnALockAsync(secondConnection.ProcessID, secondClaim))
        {
            events.AddRange(await ReadEventsAsync(reader, 1, TimeSpan.FromSeconds(5)));
        }
        await firstTransaction.CommitAsync();
        AssertSuccess(await secondClaim);
        events.AddRange(await ReadEventsAsync(reader, 2 - events.Count, TimeSpan.FromSeconds(5)));

        var sent = events.Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.Equal([firstItem, secondItem], sent.Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()));
        Assert.Equal([$"{group.Workspace}:2", $"{group.Workspace}:3"], events.Select(e => e.Id));
    }

    [Fact]
    public async Task Stream_WhenSomeoneElseIsNotified_SendsThisMemberNothing()
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var item = await group.AddItemAsync(server, 30m);
        var other = await group.AddItemAsync(server, 30m);
        using var client = StreamClient(group.Claimer);
        var (response, reader) = await ConnectAsync(client);
        using var _ = response;

        // The claimer's own claim notifies others only; then a claim by the other member reaches the claimer.
        AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", item));
        AssertSuccess(await CallAsync(server, group.Others[0], "select public.claim_item($1)", other));
        var events = await ReadEventsAsync(reader, 1, TimeSpan.FromSeconds(5));

        Assert.Equal(other, JsonDocument.Parse(events[0].Data).RootElement.GetProperty("data").GetProperty("item_id").GetGuid());
    }

    [Fact]
    public async Task Stream_WhenTheListeningConnectionIsKilled_ReconnectsAndStillDelivers()
    {
        var group = await GiftGroup.CreateAsync(server, others: 1);
        var item = await group.AddItemAsync(server, 30m);
        using var client = StreamClient(group.Others[0]);
        var (response, reader) = await ConnectAsync(client);
        using var _ = response;

        Assert.Equal(1L, await ListenersAsync());
        Assert.Equal(1L, await server.ScalarAsync<long>("""
            select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
                                  where datname = current_database() and query ilike 'listen %') t
            """));
        // Committed while nobody listens: the NOTIFY is lost, the row is not; the reconnect wakes every stream.
        AssertSuccess(await CallAsync(server, group.Claimer, "select public.claim_item($1)", item));
        var events = await ReadEventsAsync(reader, 1, TimeSpan.FromSeconds(10));

        Assert.Equal(item, JsonDocument.Parse(events[0].Data).RootElement.GetProperty("data").GetProperty("item_id").GetGuid());
    }

    [Fact]
    public async Task Stream_WhenTheTokenExpires_EndsTheResponseAndTheReconnectIsRefused401()
    {
        var user = Guid.NewGuid();
        // A first stream warms the route up, so the short token below is not spent on a cold start.
        using (var warm = StreamClient(user))
        {
            (await ConnectAsync(warm)).Response.Dispose();
        }
        var token = TestTokens.ValidFor(user, TimeSpan.FromSeconds(6));
        Assert.True(TestTokens.Jwt.TryVerify(token, out var verified, out var rejection), rejection.ToString());
        using var client = new HttpClient { BaseAddress = ListeningAddress(), Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var (response, reader) = await ConnectAsync(client);
        using var _ = response;

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await reader.ReadToEndAsync(deadline.Token);
        var ended = DateTimeOffset.UtcNow;
        var again = await client.GetAsync("/api/notifications/stream");

        output.WriteLine($"stream ended {(ended - verified!.ValidUntil).TotalMilliseconds:0} ms after the token's end");
        Assert.InRange(ended, verified.ValidUntil, verified.ValidUntil.AddSeconds(2));
        await Http.AssertProblemAsync(again, System.Net.HttpStatusCode.Unauthorized, "token_expired");
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("-1")]
    [InlineData("12345678901234567890")]
    [InlineData("0d6f64a4-6f37-4b7e-9a35-5e5e0c2c1f9a")]
    [InlineData("0d6f64a4-6f37-4b7e-9a35-5e5e0c2c1f9a:-1")]
    [InlineData("0d6f64a4-6f37-4b7e-9a35-5e5e0c2c1f9a:1,")]
    [InlineData("0d6f64a46f374b7e9a355e5e0c2c1f9a:1")]
    public async Task Stream_WhenLastEventIdIsNotACursor_Returns400(string lastEventId)
    {
        using var client = StreamClient(Guid.NewGuid());
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/notifications/stream");
        request.Headers.Add("Last-Event-ID", lastEventId);

        var response = await client.SendAsync(request);

        await Http.AssertProblemAsync(response, System.Net.HttpStatusCode.BadRequest, "invalid_last_event_id");
    }

    [Fact]
    public async Task Stream_ManyStreams_ShareOneListeningConnection()
    {
        var group = await GiftGroup.CreateAsync(server, others: 3);
        var clients = group.Others.Select(StreamClient).ToList();
        var streams = new List<(HttpResponseMessage Response, StreamReader Reader)>();
        foreach (var client in clients)
        {
            streams.Add(await ConnectAsync(client));
        }

        Assert.Equal(1L, await ListenersAsync());
        foreach (var (response, _) in streams)
        {
            response.Dispose();
        }
        clients.ForEach(c => c.Dispose());
    }
}
