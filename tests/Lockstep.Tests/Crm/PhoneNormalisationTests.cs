using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>crm.normalize_phone: the documented rules, one row each.</summary>
public sealed class PhoneNormalisationTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Theory]
    // Rule 1: spaces, dots, dashes, slashes and parentheses are ignored.
    [InlineData("+15550100199", "+15550100199")]
    [InlineData("+1 (555) 010-0199", "+15550100199")]
    [InlineData("+1 555 010 0199", "+15550100199")]
    [InlineData("+1.555.010.0199", "+15550100199")]
    [InlineData("+1/555/010/0199", "+15550100199")]
    [InlineData("  +1 555 010 0199  ", "+15550100199")]
    // Rule 2: the country code comes after '+' or the international prefix '00'.
    [InlineData("001-555-010-0199", "+15550100199")]
    [InlineData("0044 20 7946 0000", "+442079460000")]
    [InlineData("5550100199", null)]
    [InlineData("(555) 010-0199", null)]
    [InlineData("0555 0100199", null)]
    // Rule 3: letters, a second '+', a '+' anywhere but first are not phone numbers.
    [InlineData("+1 555 CALL NOW", null)]
    [InlineData("+1 555 010 0199 ext 5", null)]
    [InlineData("++15550100199", null)]
    [InlineData("1+5550100199", null)]
    [InlineData("+1 555 010 0199#", null)]
    // Rule 4: 8 to 15 digits.
    [InlineData("+1234567", null)]
    [InlineData("+12345678", "+12345678")]
    [InlineData("+123456789012345", "+123456789012345")]
    [InlineData("+1234567890123456", null)]
    [InlineData("", null)]
    [InlineData("   ", null)]
    [InlineData(null, null)]
    public async Task NormalizePhone_FollowsTheDocumentedRules(string? phone, string? expected)
    {
        var normalised = await db.ScalarAsync<object>("select crm.normalize_phone($1::text)", phone);

        Assert.Equal(expected, normalised as string);
    }

    [Fact]
    public async Task CreateClientWithContact_WhenPhoneIsInvalid_RefusesNamingTheValue()
    {
        var user = Guid.NewGuid();
        var workspace = await db.WorkspaceAsync(user);

        var result = await db.CreateClientAsync(user, workspace, "Acme", "Ann", "555 CALL NOW");

        Assert.Equal("invalid_phone", result.Code());
        Assert.Contains("555 CALL NOW", result.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
