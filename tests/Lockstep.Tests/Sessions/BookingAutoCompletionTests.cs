using Lockstep.Sessions;
using Lockstep.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Sessions;

/// <summary>Auto-completion passes: each due booking once, failures isolated, concurrent passes never double-consume.</summary>
[RunsOnCitus]
public sealed class BookingAutoCompletionTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private Task<int> ScheduledDueAsync(Guid workspace) =>
        db.ScalarAsync<long>("select count(*) from sessions.bookings where workspace_id = $1 and status = 'scheduled' and ends_at <= now()", workspace)
            .ContinueWith(t => (int)t.Result);

    [Fact]
    public async Task RunPass_WhenTwoPassesRunAtOnce_EachDueBookingConsumesOneSession()
    {
        var (owner, workspace, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 30);
        var past = DateTimeOffset.UtcNow.AddDays(-1);
        for (var i = 0; i < 20; i++)
        {
            await BookingAsync(db, owner, client, pack, past.AddMinutes(i));
        }
        var future = await BookingAsync(db, owner, client, pack, DateTimeOffset.UtcNow.AddDays(1));

        // Two server instances' passes at the same moment, over separate connections.
        var passes = await Task.WhenAll(
            Task.Run(() => BookingAutoCompletion.RunPassAsync(db.DataSource, NullLogger.Instance, CancellationToken.None)),
            Task.Run(() => BookingAutoCompletion.RunPassAsync(db.DataSource, NullLogger.Instance, CancellationToken.None)));

        Assert.Equal(20, await db.ScalarAsync<long>("select count(*) from sessions.bookings where workspace_id = $1 and status = 'completed' and session_consumed", workspace));
        Assert.Equal(20, await UsedAsync(db, pack));
        Assert.Equal("scheduled", await db.ScalarAsync<string>("select status from sessions.bookings where id = $1", future));
        // Other tests' bookings share the database, so the passes' counts are checked loosely; the SQL above is the invariant.
        Assert.True(passes.Sum(p => p.Completed) >= 20);
        Assert.All(passes, p => Assert.Equal(0, p.Failed));
    }

    [Fact]
    public async Task RunPass_WhenOneBookingFails_TheOthersAreCompletedAndTheFailureIsCounted()
    {
        var (owner, workspace, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 10);
        var past = DateTimeOffset.UtcNow.AddHours(-5);
        var doomed = await BookingAsync(db, owner, client, pack, past);
        await BookingAsync(db, owner, client, pack, past.AddMinutes(10));
        await BookingAsync(db, owner, client, pack, past.AddMinutes(20));
        // A trigger that breaks the completion of one booking stands in for any unexpected failure. On Citus
        // trigger DDL on a distributed table needs the setting Lockstep's own migrations set, and a function
        // command may not follow it in the same transaction (the trigger is created on every shard at once).
        await db.ScalarAsync<int>($"""
            create function public.fail_one_booking() returns trigger language plpgsql as $$
            begin
              if new.id = '{doomed}' and new.status = 'completed' then raise exception 'boom'; end if;
              return new;
            end $$;
            begin;
            set local citus.enable_unsafe_triggers = on;
            create trigger fail_one_booking before update on sessions.bookings for each row execute function public.fail_one_booking();
            commit;
            select 1
            """);
        try
        {
            var pass = await BookingAutoCompletion.RunPassAsync(db.DataSource, NullLogger.Instance, CancellationToken.None);

            Assert.Equal(1, pass.Failed);
            Assert.True(pass.Completed >= 2);
            Assert.Equal(2, await UsedAsync(db, pack));
            Assert.Equal("scheduled", await db.ScalarAsync<string>("select status from sessions.bookings where id = $1", doomed));
            Assert.Equal(1, await ScheduledDueAsync(workspace));
        }
        finally
        {
            await db.ScalarAsync<int>("""
                begin;
                set local citus.enable_unsafe_triggers = on;
                drop trigger fail_one_booking on sessions.bookings;
                commit;
                drop function public.fail_one_booking();
                select 1
                """);
        }
    }

    [Fact]
    public async Task RunPass_WhenAPackIsExhausted_CompletesTheBookingWithoutConsuming()
    {
        var (owner, _, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 1);
        Assert.True(await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var booking = await BookingAsync(db, owner, client, pack, DateTimeOffset.UtcNow.AddHours(-3));

        await BookingAutoCompletion.RunPassAsync(db.DataSource, NullLogger.Instance, CancellationToken.None);

        Assert.Equal("completed", await db.ScalarAsync<string>("select status from sessions.bookings where id = $1", booking));
        Assert.False(await db.ScalarAsync<bool>("select session_consumed from sessions.bookings where id = $1", booking));
        Assert.Equal(1, await UsedAsync(db, pack));
    }

    [Theory]
    [InlineData(null, 60.0)]
    [InlineData("00:00:30", 30.0)]
    [InlineData("5s", 5.0)]
    [InlineData("0", null)]
    [InlineData("off", null)]
    public void Interval_WhenConfigured_IsReadOrDisabled(string? setting, double? seconds)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [BookingAutoCompletion.IntervalSetting] = setting })
            .Build();

        Assert.Equal(seconds, BookingAutoCompletion.Interval(configuration)?.TotalSeconds);
    }
}
