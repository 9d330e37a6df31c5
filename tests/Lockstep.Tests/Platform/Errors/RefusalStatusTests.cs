using Lockstep.Platform.Errors;

namespace Lockstep.Tests.Platform.Errors;

public sealed class RefusalStatusTests
{
    [Theory]
    [InlineData("not_authenticated", 401)]
    [InlineData("forbidden", 403)]
    [InlineData("workspace_not_found", 404)]
    [InlineData("member_not_found", 404)]
    [InlineData("not_found", 404)]
    [InlineData("export_forbidden", 403)]
    [InlineData("already_member", 409)]
    [InlineData("conflict", 409)]
    [InlineData("last_owner", 422)]
    [InlineData("invalid_role", 422)]
    [InlineData("sessions_exhausted", 422)]
    [InlineData("not_found_anywhere", 422)]
    public void StatusForRefusal_WhenCodeIsGiven_ReturnsItsStatus(string code, int status)
    {
        Assert.Equal(status, Problems.StatusForRefusal(code));
    }
}
