using System.Text.Json;
using System.Text.RegularExpressions;
using Lockstep.Tests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace Lockstep.Tests.Platform;

/// <summary>
/// A page costs the page, not the list: on 10,000 rows the query inside the function (seen through
/// auto_explain, after enough calls for PL/pgSQL to consider its generic plan) is a backward index scan
/// under a Limit that reads p_limit + 1 rows past the cursor, with no sort and no sequential scan.
/// </summary>
public sealed partial class ListPagingPlanTests(DatabaseFixture db, ITestOutputHelper output) : IClassFixture<DatabaseFixture>
{
    [Theory]
    [InlineData("list_messages", "messages_conversation_idx")]
    [InlineData("list_conversations", "conversations_activity_idx")]
    public async Task ListPage_On10000Rows_IsAnIndexScanThatStopsAfterThePage(string list, string index)
    {
        var owner = Guid.NewGuid();
        var workspace = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Plans')"))
            .RootElement.GetProperty("workspace_id").GetGuid();
        var conversation = JsonDocument.Parse(await db.ScalarAsUserAsync<string>(owner,
                "select public.create_lead_with_conversation($1, '+15550108000', 'Plan', 'inquiry')", workspace))
            .RootElement.GetProperty("conversation_id").GetGuid();
        await db.ScalarAsync<long>(list == "list_messages"
            ? """
              with m as (
                insert into leads.messages (workspace_id, conversation_id, direction, body, status, created_at)
                select $1, $2, 'in', 'Message ' || g, 'received', now() - g * interval '1 second' from generate_series(1, 10000) g
                returning 1)
              select count(*) from m
              """
            : """
              with c as (
                insert into leads.conversations (workspace_id, contact_id, created_at, last_message_at)
                select $1, (select contact_id from leads.conversations where id = $2), now() - g * interval '1 second',
                       case when g % 2 = 0 then now() - g * interval '1 minute' end
                from generate_series(1, 10000) g
                returning 1)
              select count(*) from c
              """, workspace, conversation);
        await db.ScalarAsync<object>("analyze leads.messages, leads.conversations");
        var call = list == "list_messages"
            ? "select public.list_messages(p_workspace_id => $1, p_limit => 50, p_before => $2, p_conversation_id => $3)"
            : "select public.list_conversations(p_workspace_id => $1, p_limit => 50, p_before => $2)";
        object[] Args(object cursor) => list == "list_messages" ? [workspace, cursor, conversation] : [workspace, cursor];

        await using var connection = await db.DataSource.OpenConnectionAsync();
        var plans = new List<string>();
        connection.Notice += (_, e) => plans.Add(e.Notice.MessageText);
        await ExecuteAsync(connection, "select set_config('request.jwt.claims', $1, false)", $$"""{"sub":"{{owner}}"}""");
        var first = JsonDocument.Parse((string)(await ExecuteAsync(connection, call, Args(DBNull.Value)))!).RootElement;
        var cursor = first.GetProperty("next_before").GetString()!;
        for (var i = 0; i < 6; i++)
        {
            await ExecuteAsync(connection, call, Args(cursor));
        }
        await ExecuteAsync(connection, "load 'auto_explain'");
        foreach (var setting in new[] { "auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on", "auto_explain.log_analyze = on", "client_min_messages = log" })
        {
            await ExecuteAsync(connection, "set " + setting);
        }
        await ExecuteAsync(connection, call, Args(cursor));

        var plan = Assert.Single(plans, p => p.Contains($"using {index}", StringComparison.Ordinal));
        output.WriteLine(plan);
        Assert.Contains($"Index Scan Backward using {index}", plan, StringComparison.Ordinal);
        Assert.Contains("Limit", plan, StringComparison.Ordinal);
        // The page's own table: a small joined table (the outbox beside messages) may rightly be scanned whole.
        Assert.DoesNotContain(list == "list_messages" ? "Seq Scan on messages" : "Seq Scan on conversations", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("Sort", plan, StringComparison.Ordinal);
        var read = int.Parse(IndexRowsRead().Match(plan).Groups[1].Value);
        Assert.InRange(read, 51, 52);
    }

    private static async Task<object?> ExecuteAsync(NpgsqlConnection connection, string sql, params object[] args)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg });
        }
        return await command.ExecuteScalarAsync();
    }

    [GeneratedRegex(@"Index Scan Backward using \S+ on \S+ \w+\s+\(cost=[^)]*\) \(actual time=\S+ rows=(\d+)")]
    private static partial Regex IndexRowsRead();
}
