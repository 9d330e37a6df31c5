using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Npgsql;

namespace Lockstep.Tests.Platform.Database;

/// <summary>A commit Citus failed with XX000 after a worker's refusal came back as a WARNING notice: as Citus 13.2 answers it.</summary>
public sealed class CommitRefusalTests
{
    private static readonly PostgresException CommitFailed = new(
        "could not commit transaction for shard 102499 on at least one active node", "ERROR", "ERROR", PostgresErrorCodes.InternalError);

    private static readonly PostgresNotice OwnerRule = new(
        "WARNING", "WARNING", PostgresErrorCodes.CheckViolation,
        "Workspace 0d6f64a4-6f37-4b7e-9a35-5e5e0c2c1f9a would be left without an owner (constraint \"workspace_keeps_owner\")");

    [Fact]
    public void Of_WhenTheCommitFailedAfterTheOwnerRulesNotice_IsTheViolationAndMapsToLastOwner()
    {
        var violation = CommitRefusal.Of(CommitFailed, OwnerRule);

        Assert.NotNull(violation);
        Assert.Equal(PostgresErrorCodes.CheckViolation, violation.SqlState);
        var problem = Problems.FromPostgres(violation);
        Assert.Equal(422, problem.StatusCode);
        Assert.Equal("last_owner", problem.ProblemDetails.Extensions["code"]);
    }

    [Fact]
    public void Of_WhenTheCommitFailedWithoutAViolationNotice_IsNullAndTheErrorStaysA500()
    {
        Assert.Null(CommitRefusal.Of(CommitFailed, null));
        Assert.Equal(500, Problems.FromPostgres(CommitFailed).StatusCode);
    }

    [Fact]
    public void Of_WhenAnotherInternalErrorFollowsAViolationNotice_IsNull()
    {
        var other = new PostgresException("cache lookup failed for relation 1", "ERROR", "ERROR", PostgresErrorCodes.InternalError);

        Assert.Null(CommitRefusal.Of(other, OwnerRule));
    }
}
