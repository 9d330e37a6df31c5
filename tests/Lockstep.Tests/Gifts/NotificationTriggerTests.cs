using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;
using static Lockstep.Tests.Gifts.GiftGroup;

namespace Lockstep.Tests.Gifts;

/// <summary>
/// Who each trigger notifies, as a table: steps run by K (claimer), A, B (members); D is a member who does
/// nothing; C is the celebrant, who is never notified about their own items. The item costs 100.00.
/// </summary>
[RunsOnCitus]
public sealed class NotificationTriggerTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    public static TheoryData<string, string[], string[]> Cases => new()
    {
        { "full claim", ["K claim"], ["item_claimed:A", "item_claimed:B", "item_claimed:D"] },
        { "full unclaim", ["K claim", "K unclaim"], ["item_claimed:A", "item_claimed:B", "item_claimed:D"] },
        { "open split", ["K claim", "K split"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D"] },
        { "pledge", ["K claim", "K split", "A pledge 30"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D"] },
        { "funded by pledges", ["K claim", "K split", "A pledge 60", "B pledge 40", "K close"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D",
             "split_fully_funded:A", "split_fully_funded:B", "split_fully_funded:K"] },
        { "funded by close", ["K claim", "K split", "A pledge 30", "K close"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D",
             "split_fully_funded:A", "split_fully_funded:K"] },
        { "split canceled", ["K claim", "K split", "K unclaim"],
            ["item_claimed:A", "item_claimed:B", "item_claimed:D", "split_invite:A", "split_invite:B", "split_invite:D",
             "split_canceled:A", "split_canceled:B", "split_canceled:D"] },
    };

    [Fact]
    public async Task NotificationTotals_AsTheServingRoleAsTheListenerOnCitusCallsIt_GrowWithEachNotificationOfTheRecipient()
    {
        var group = await GiftGroup.CreateAsync(db, others: 2);
        var watcher = group.Others[0];
        async Task<long?> TotalAsync()
        {
            await using var connection = await db.ServingDataSource.OpenConnectionAsync();
            await using var totals = new Npgsql.NpgsqlCommand("select total from gifts.notification_totals($1)", connection);
            totals.Parameters.Add(new() { Value = new[] { watcher } });
            return (long?)await totals.ExecuteScalarAsync();
        }
        var before = await TotalAsync();

        GiftGroup.AssertSuccess(await GiftGroup.CallAsync(db, group.Claimer, "select public.claim_item($1)", await group.AddItemAsync(db, 10)));
        var after = await TotalAsync();
        GiftGroup.AssertSuccess(await GiftGroup.CallAsync(db, group.Claimer, "select public.claim_item($1)", await group.AddItemAsync(db, 20, "Kite")));

        Assert.Null(before);
        Assert.Equal(1L, after);
        Assert.Equal(2L, await TotalAsync());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Triggers_WhenStepsRun_NotifyExactlyTheRightMembers(string name, string[] steps, string[] expected)
    {
        var group = await GiftGroup.CreateAsync(db, others: 3);
        var roles = new Dictionary<string, Guid>
        {
            ["C"] = group.Celebrant, ["K"] = group.Claimer, ["A"] = group.Others[0], ["B"] = group.Others[1], ["D"] = group.Others[2],
        };
        var item = await group.AddItemAsync(db, 100.00m, name);

        foreach (var step in steps)
        {
            var parts = step.Split(' ');
            var sql = parts[1] switch
            {
                "claim" => "select public.claim_item($1)",
                "unclaim" => "select public.unclaim_item($1)",
                "split" => "select public.open_split($1)",
                "pledge" => $"select public.pledge_contribution($1, {parts[2]})",
                "close" => "select public.close_split($1)",
                _ => throw new ArgumentException(step),
            };
            AssertSuccess(await CallAsync(db, roles[parts[0]], sql, item));
        }

        var rows = await db.ScalarAsync<string[]>("""
            select coalesce(array_agg(n.type || ':' || n.recipient_id::text), '{}')
            from gifts.notifications n where (n.data ->> 'item_id')::uuid = $1
            """, item);
        var byRole = roles.ToDictionary(r => r.Value.ToString(), r => r.Key);
        var actual = rows.Select(r => r.Split(':')).Select(p => $"{p[0]}:{byRole[p[1]]}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected.Order(StringComparer.Ordinal).ToArray(), actual);
    }

    [Fact]
    public async Task Notifications_CarryTheItemAndTheClaimer()
    {
        var group = await GiftGroup.CreateAsync(db, others: 1);
        var item = await group.AddItemAsync(db, 20.00m, "Teapot");
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.claim_item($1)", item));

        var data = System.Text.Json.JsonDocument.Parse(await db.ScalarAsync<string>(
            "select data::text from gifts.notifications where recipient_id = $1", group.Others[0])).RootElement;

        Assert.Equal("item_claimed", data.GetProperty("type").GetString());
        Assert.Equal(item, data.GetProperty("item_id").GetGuid());
        Assert.Equal("Teapot", data.GetProperty("item_title").GetString());
        Assert.Equal(group.Claimer, data.GetProperty("claimer_id").GetGuid());
        Assert.Equal("Claire Claimer", data.GetProperty("claimer_name").GetString());
    }

    /// <summary>One notifications_since read as <paramref name="user"/> from <paramref name="cursor"/>: the rows and the cursor to pass back.</summary>
    private async Task<(JsonElement[] Rows, string Cursor)> ReadSinceAsync(Guid user, string cursor)
    {
        var page = await CallAsync(db, user, "select public.notifications_since($1)", cursor);
        AssertSuccess(page);
        return (page.GetProperty("notifications").EnumerateArray().ToArray(), page.GetProperty("cursor").GetString()!);
    }

    [Fact]
    public async Task NotificationsSince_WhenTheFirstInsertingClaimWouldCommitLast_AReaderBetweenTheCommitsStillGetsBothInOrder()
    {
        // Two serving-role connections, each claiming an item in its own transaction; both notify R. The
        // first inserts, then the second inserts and commits as soon as it can, then the first commits; R
        // reads between the commits. With a seq taken at insert, the second committed first, was read,
        // and the cursor passed the first for good. R was notified once before, so R's counter exists.
        var group = await GiftGroup.CreateAsync(db, others: 2);
        var (recipient, second) = (group.Others[0], group.Others[1]);
        AssertSuccess(await CallAsync(db, group.Claimer, "select public.claim_item($1)", await group.AddItemAsync(db, 10m, "Before")));
        var firstItem = await group.AddItemAsync(db, 10m, "First");
        var secondItem = await group.AddItemAsync(db, 10m, "Second");
        var (_, cursor) = await ReadSinceAsync(recipient, "");

        await using var firstConnection = await db.ServingDataSource.OpenConnectionAsync();
        await using var secondConnection = await db.ServingDataSource.OpenConnectionAsync();
        await using var firstTransaction = await firstConnection.BeginTransactionAsync();
        AssertSuccess(await CallAsync(firstTransaction, group.Claimer, "select public.claim_item($1)", firstItem));
        var secondClaim = Task.Run(async () =>
        {
            await using var transaction = await secondConnection.BeginTransactionAsync();
            var claimed = await CallAsync(transaction, second, "select public.claim_item($1)", secondItem);
            await transaction.CommitAsync();
            return claimed;
        });
        var secondWaited = await db.WaitsOnALockAsync(secondConnection.ProcessID, secondClaim);
        var (betweenCommits, afterSecond) = await ReadSinceAsync(recipient, cursor);
        await firstTransaction.CommitAsync();
        AssertSuccess(await secondClaim);
        var (afterBoth, _) = await ReadSinceAsync(recipient, afterSecond);

        var read = betweenCommits.Concat(afterBoth).ToArray();
        Assert.Equal([firstItem, secondItem], read.Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()));
        Assert.Equal($"{group.Workspace}:1", cursor);
        Assert.Equal([2L, 3L], read.Select(n => n.GetProperty("recipient_seq").GetInt64()));
        Assert.True(secondWaited, "the second claim should wait on the recipient's counter until the first commits");
    }

    [Fact]
    public async Task TakeRecipientSeq_When16WritersNotifyOneRecipient25TimesEach_NumbersAreGaplessPerRecipient()
    {
        // 16 concurrent serving-role connections, each claiming 25 items one after another; every claim
        // notifies the 16 other members (R among them), so 17 counters are contended: 6,400 notifications.
        const int Writers = 16, ClaimsEach = 25;
        var group = await GiftGroup.CreateAsync(db, others: Writers + 1);
        var writers = group.Others.Skip(1).ToArray();
        var items = new Guid[Writers * ClaimsEach];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = await group.AddItemAsync(db, 5m, $"Item {i}");
        }
        var connections = new List<NpgsqlConnection>();
        for (var w = 0; w < Writers; w++)
        {
            connections.Add(await db.ServingDataSource.OpenConnectionAsync());
        }
        try
        {
            var start = new TaskCompletionSource();
            var claims = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                await start.Task;
                var results = new List<JsonElement>();
                for (var c = 0; c < ClaimsEach; c++)
                {
                    results.Add(await CallAsync(connections[w], writers[w], "select public.claim_item($1)", items[w * ClaimsEach + c]));
                }
                return results;
            })).ToList();
            start.SetResult();
            Assert.All((await Task.WhenAll(claims)).SelectMany(r => r), AssertSuccess);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        var broken = await db.ScalarAsync<string[]>("""
            select coalesce(array_agg(n.recipient_id::text || ' has ' || n.rows || ' rows, seq ' || n.low || '..' || n.high
                                      || ', ' || n.distinct_seqs || ' distinct, counter ' || coalesce(c.last_seq::text, 'missing')), '{}')
            from (select recipient_id, count(*) as rows, count(distinct recipient_seq) as distinct_seqs,
                         min(recipient_seq) as low, max(recipient_seq) as high
                  from gifts.notifications where workspace_id = $1 group by recipient_id) n
            left join gifts.notification_counters c on c.workspace_id = $1 and c.recipient_id = n.recipient_id
            where n.low <> 1 or n.high <> n.rows or n.distinct_seqs <> n.rows or c.last_seq is distinct from n.high
            """, group.Workspace);
        Assert.Empty(broken);
        Assert.Equal((long)Writers * ClaimsEach, await db.ScalarAsync<long>(
            "select count(*) from gifts.notifications where workspace_id = $1 and recipient_id = $2", group.Workspace, group.Others[0]));
    }
}
