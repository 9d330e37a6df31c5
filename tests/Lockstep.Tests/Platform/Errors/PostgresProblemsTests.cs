using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Lockstep.Tests.Platform.Errors;

/// <summary>A database with scratch tables whose constraints the tests break, and a role without privileges.</summary>
public sealed class ScratchDatabaseFixture : DatabaseFixture
{
    public string UnprivilegedRole { get; } = "scratch_" + Guid.NewGuid().ToString("N")[..12];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await using var command = DataSource.CreateCommand($"""
            create schema scratch;
            create table scratch.parents (
              id int primary key,
              code text not null unique,
              amount int not null check (amount >= 0));
            create table scratch.children (
              id int primary key,
              parent_id int not null references scratch.parents (id));
            insert into scratch.parents values (1, 'a', 1);
            insert into scratch.children values (1, 1);
            create role {UnprivilegedRole} nologin;
            """);
        await command.ExecuteNonQueryAsync();
    }

    public override async Task DisposeAsync()
    {
        // Roles belong to the whole cluster, which outlives this database.
        await using (var command = DataSource.CreateCommand($"drop role if exists {UnprivilegedRole}"))
        {
            await command.ExecuteNonQueryAsync();
        }
        await base.DisposeAsync();
    }
}

[RunsOnCitus]
public sealed class PostgresProblemsTests(ScratchDatabaseFixture db) : IClassFixture<ScratchDatabaseFixture>
{
    /// <summary>Runs <paramref name="sql"/> in a transaction that is rolled back and returns the error it raised.</summary>
    private async Task<PostgresException> FailAsync(string sql)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    /// <summary>Runs <paramref name="sql"/> in a transaction, commits it, and returns the error the commit raised (<see cref="CommitRefusal"/>).</summary>
    private async Task<PostgresException> CommitFailsAsync(string sql)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        using var refusal = new CommitRefusal(connection);
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand(sql, connection, transaction))
        {
            await command.ExecuteNonQueryAsync();
        }
        var e = await Assert.ThrowsAsync<PostgresException>(() => transaction.CommitAsync());
        return refusal.Of(e) ?? e;
    }

    private static void AssertProblem(ProblemHttpResult problem, PostgresException cause, int status, string code, string? field = null)
    {
        Assert.Equal(status, problem.StatusCode);
        Assert.Equal(code, problem.ProblemDetails.Extensions["code"]);
        Assert.Equal(field, problem.ProblemDetails.Extensions.TryGetValue("field", out var f) ? f : null);
        // The database's own words (table names, values, SQL) never reach a caller.
        Assert.DoesNotContain(cause.MessageText, problem.ProblemDetails.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("scratch", problem.ProblemDetails.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("insert into scratch.parents values (2, 'a', 1)", "23505", 409, "conflict")]
    [InlineData("insert into scratch.children values (2, 99)", "23503", 404, "reference_not_found")]
    [InlineData("delete from scratch.parents where id = 1", "23503", 409, "still_referenced")]
    [InlineData("update scratch.parents set amount = -1 where id = 1", "23514", 422, "constraint_violated")]
    [InlineData("select 'x'::uuid", "22P02", 400, "invalid_input")]
    [InlineData("select '{\"a\":'::jsonb", "22P02", 400, "invalid_input")]
    [InlineData("select generate_series(1, 10, 0)", "22023", 400, "invalid_input")]
    [InlineData("select 2147483647 + 1", "22003", 400, "invalid_input")]
    [InlineData("select 1 / 0", "22012", 400, "invalid_input")]
    [InlineData("select * from scratch.no_such_table", "42P01", 500, "internal_error")]
    public async Task FromPostgres_WhenDatabaseRaises_MapsBySqlState(string sql, string sqlState, int status, string code)
    {
        var error = await FailAsync(sql);

        Assert.Equal(sqlState, error.SqlState);
        AssertProblem(Problems.FromPostgres(error), error, status, code);
    }

    [Fact]
    public async Task FromPostgres_WhenNotNullIsViolated_Returns400NamingTheColumn()
    {
        var error = await FailAsync("insert into scratch.parents values (3, null, 1)");

        Assert.Equal(PostgresErrorCodes.NotNullViolation, error.SqlState);
        AssertProblem(Problems.FromPostgres(error), error, 400, "value_required", "code");
    }

    [Fact]
    public async Task FromPostgres_WhenRoleLacksPrivilege_Returns403()
    {
        var error = await FailAsync($"set local role {db.UnprivilegedRole}; select * from scratch.parents");

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        AssertProblem(Problems.FromPostgres(error), error, 403, "forbidden");
    }

    [Fact]
    public async Task FromPostgres_WhenStatementTimesOut_Returns504DatabaseTimeout()
    {
        var error = await FailAsync("set local statement_timeout = '10ms'; select pg_sleep(5)");

        Assert.Equal(PostgresErrorCodes.QueryCanceled, error.SqlState);
        AssertProblem(Problems.FromPostgres(error), error, 504, "database_timeout");
    }

    [Fact]
    public async Task FromPostgres_WhenConcurrentUpdateBreaksSerialization_Returns503Retry()
    {
        await using var first = await db.DataSource.OpenConnectionAsync();
        await using var tx = await first.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        await using (var read = new NpgsqlCommand("select amount from scratch.parents where id = 1", first, tx))
        {
            await read.ExecuteScalarAsync();
        }
        await using (var concurrent = db.DataSource.CreateCommand("update scratch.parents set amount = amount where id = 1"))
        {
            await concurrent.ExecuteNonQueryAsync();
        }
        await using var write = new NpgsqlCommand("update scratch.parents set amount = amount + 1 where id = 1", first, tx);

        var error = await Assert.ThrowsAsync<PostgresException>(() => write.ExecuteNonQueryAsync());

        Assert.Equal(PostgresErrorCodes.SerializationFailure, error.SqlState);
        AssertProblem(Problems.FromPostgres(error), error, 503, "retry");
    }

    [Fact]
    public async Task FromPostgres_WhenWorkspaceWouldLoseItsLastOwner_Returns422LastOwner()
    {
        var workspace = Guid.NewGuid();
        var owner = Guid.NewGuid();
        var demotion = $"""
            insert into platform.workspaces (id, name, created_by) values ('{workspace}', 'Studio', '{owner}');
            insert into platform.members (workspace_id, user_id, role) values ('{workspace}', '{owner}', 'owner');
            update platform.members set role = 'member' where workspace_id = '{workspace}';
            """;
        // The check is deferred to commit. On one node it is run early; SET CONSTRAINTS does not reach Citus's
        // workers, so there the refusal is the commit's, read as the server reads it.
        var error = TestCluster.OnCitus
            ? await CommitFailsAsync(demotion)
            : await FailAsync("set constraints platform.workspace_keeps_owner immediate;\n" + demotion);

        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("workspace_keeps_owner", await db.ViolatedConstraintAsync(error));
        AssertProblem(Problems.FromPostgres(error), error, 422, "last_owner");
    }

    [Fact]
    public async Task FromPostgres_WhenAViolationNamesOnlyAShardsCopyOfTheConstraint_MapsItAsTheConstraint()
    {
        // What Citus relays from a worker: no constraint name, the shard's copy named in the message.
        Problems.AddConstraint("scratch_code_unique", "scratch_code_taken", "That code is taken");
        var error = await FailAsync("""
            do $$ begin
              raise unique_violation using message = 'duplicate key value violates unique constraint "scratch_code_unique_102170"';
            end $$
            """);
        Assert.True(string.IsNullOrEmpty(error.ConstraintName));

        AssertProblem(Problems.FromPostgres(error), error, 409, "scratch_code_taken");
    }

    [Theory]
    [InlineData("unique_phone_workspace", "anything", "unique_phone_workspace")]
    [InlineData(null, "duplicate key value violates unique constraint \"unique_phone_workspace_102170\"", "unique_phone_workspace")]
    [InlineData("", "duplicate key value violates unique constraint \"unique_phone_workspace\"", "unique_phone_workspace")]
    [InlineData(null, "new row for relation \"contacts_102170\" violates check constraint \"contacts_name_not_blank_102170\"", "contacts_name_not_blank")]
    [InlineData(null, "something else", "")]
    public async Task ViolatedConstraint_WhenGivenWhatADiagnosticHolds_NamesTheSchemasConstraint(string? name, string message, string expected)
    {
        Assert.Equal(expected, await db.ScalarAsync<string>("select coalesce(platform.violated_constraint($1::text, $2::text), '')", name, message));
    }
}
