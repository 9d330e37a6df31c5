using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Leads;

/// <summary>
/// What happens between the Cloud API's 200 and the commit that records it, produced for real: the
/// database connection killed while the send is recorded, and a status webhook that arrives while the
/// recording waits for a lock. Requests are counted at the stand-in Cloud API.
/// </summary>
public sealed class WhatsAppOutboxRecoveryTests(OutboxWorkersFixture server) : IClassFixture<OutboxWorkersFixture>
{
    private const string MessageState =
        "select status || ' ' || coalesce(wa_message_id, '-') || ' ' || (delivered_at is not null) || ' ' || (read_at is not null) from leads.messages where workspace_id = $1 and id = $2";

    [Fact]
    public async Task Worker_WhenTheConnectionDiesWhileTheAcceptedSendIsRecorded_RecordsItAgainAndNeverSendsTwice()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var message = await server.QueueAsync(workspace, owner, "+15551230601", "Recorded once");
        // The first statement that marks this workspace's outbox row done has its backend terminated.
        await using var fault = await ConnectionKillAsync(workspace);
        using var worker = server.Worker(server.Options with { Lease = TimeSpan.FromMilliseconds(1500), SendTimeout = TimeSpan.FromMilliseconds(700) });

        // Passes for 4 s, well past the 1.5 s lease: a send left unrecorded would be claimed and sent again in them.
        var until = DateTime.UtcNow.AddSeconds(4);
        while (DateTime.UtcNow < until)
        {
            try
            {
                await worker.RunOnceAsync(CancellationToken.None);
            }
            catch (NpgsqlException)
            {
                // The server's worker loop logs a failed pass and polls again; so does this one.
            }
            await Task.Delay(50);
        }

        // Two recordings reached the trigger: the first, whose connection it killed, and the one that committed.
        Assert.Equal(2L, await fault.ReachedAsync());
        var received = Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId));
        Assert.Equal($"sent {received.AnsweredId} false false", await server.ScalarAsync<string>(MessageState, workspace, message));
    }

    [Fact]
    public async Task StatusWebhook_WhenDeliveredAndReadArriveBeforeTheSendIsRecorded_AreAppliedWhenItIsRecorded()
    {
        var (workspace, owner, phoneNumberId) = await server.ConnectedWorkspaceAsync();
        var message = await server.QueueAsync(workspace, owner, "+15551230602", "Read early");
        server.CloudApi.Script(phoneNumberId, new CloudApiStandIn.Reply(200, CloudApiStandIn.Accepted("wamid.EARLY"), Hang: TimeSpan.FromSeconds(2)));
        using var worker = server.Worker(server.Options with { Lease = TimeSpan.FromSeconds(20), SendTimeout = TimeSpan.FromSeconds(5) });

        var delivering = worker.RunOnceAsync(CancellationToken.None);
        await LeadsServerFixture.EventuallyAsync(() => server.CloudApi.ReceivedFor(phoneNumberId).Count == 1);
        // The test holds the outbox row, so the worker's recording of the accepted send waits for it.
        await using var connection = await server.DataSource.OpenConnectionAsync();
        await using var holder = await connection.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("select 1 from leads.outbox where workspace_id = $1 and message_id = $2 for update", connection, holder))
        {
            hold.Parameters.Add(new NpgsqlParameter { Value = workspace });
            hold.Parameters.Add(new NpgsqlParameter { Value = message });
            await hold.ExecuteScalarAsync();
        }
        Assert.Equal(1L, await server.EventuallyAsync<long>(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%complete_outbox%'", n => n == 1));

        var delivered = await server.DeliverAsync(LeadsServerFixture.StatusPayload(phoneNumberId, "wamid.EARLY", "delivered"));
        var read = await server.DeliverAsync(LeadsServerFixture.StatusPayload(phoneNumberId, "wamid.EARLY", "read"));
        Assert.Equal(System.Net.HttpStatusCode.OK, delivered.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("queued - false false", await server.ScalarAsync<string>(MessageState, workspace, message));
        await holder.RollbackAsync();
        await delivering;

        Assert.Equal("read wamid.EARLY true true", await server.ScalarAsync<string>(MessageState, workspace, message));
        Assert.Single(server.CloudApi.ReceivedFor(phoneNumberId));
    }

    /// <summary>
    /// A trigger that terminates its own backend the first time the workspace's outbox row is marked done:
    /// the connection dies mid-transaction, as when the database restarts or the network drops it.
    /// </summary>
    private async Task<ConnectionKill> ConnectionKillAsync(Guid workspace)
    {
        var name = "kill_" + Guid.NewGuid().ToString("N")[..12];
        await using var command = server.DataSource.CreateCommand($$"""
            create schema if not exists fault;
            create sequence fault.{{name}};
            create function fault.{{name}}() returns trigger language plpgsql security definer set search_path = '' as $f$
            begin
              if new.workspace_id = '{{workspace}}' and new.done_at is not null and old.done_at is null then
                if nextval('fault.{{name}}') = 1 then
                  perform pg_terminate_backend(pg_backend_pid());
                  perform pg_sleep(10);
                end if;
              end if;
              return new;
            end
            $f$;
            create trigger {{name}} before update on leads.outbox for each row execute function fault.{{name}}();
            """);
        await command.ExecuteNonQueryAsync();
        return new ConnectionKill(server.DataSource, name);
    }

    private sealed class ConnectionKill(NpgsqlDataSource dataSource, string name) : IAsyncDisposable
    {
        /// <summary>How many statements marking the row done reached the trigger (the first of them was killed).</summary>
        public async Task<long> ReachedAsync()
        {
            await using var command = dataSource.CreateCommand($"select case when is_called then last_value else 0 end from fault.{name}");
            return (long)(await command.ExecuteScalarAsync())!;
        }

        public async ValueTask DisposeAsync()
        {
            await using var command = dataSource.CreateCommand(
                $"drop trigger {name} on leads.outbox; drop function fault.{name}(); drop sequence fault.{name}");
            await command.ExecuteNonQueryAsync();
        }
    }
}
