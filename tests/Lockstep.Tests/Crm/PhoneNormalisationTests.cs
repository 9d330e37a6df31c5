using Lockstep.Tests.Support;

namespace Lockstep.Tests.Crm;

/// <summary>crm.normalize_phone: the documented rules, one row each.</summary>
[RunsOnCitus]
public sealed class PhoneNormalisationTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Theory]
    // Rule 1: separators are ignored: ASCII and Unicode spaces, zero-width and direction marks, dots, dashes, slashes, parentheses.
    [InlineData("+15550100199", "+15550100199")]
    [InlineData("+1 (555) 010-0199", "+15550100199")]
    [InlineData("+1 555 010 0199", "+15550100199")]
    [InlineData("+1.555.010.0199", "+15550100199")]
    [InlineData("+1/555/010/0199", "+15550100199")]
    [InlineData("  +1 555 010 0199  ", "+15550100199")]
    [InlineData("+44\u00A07700\u00A0900123", "+447700900123")]
    [InlineData("+44\u20077700\u2007900123", "+447700900123")]
    [InlineData("+33\u202F1\u202F23\u202F45\u202F67\u202F89", "+33123456789")]
    [InlineData("+44\u30007700\u3000900123", "+447700900123")]
    [InlineData("+44\u200B7700\u200B900123", "+447700900123")]
    [InlineData("\u202A+44 7700 900123\u202C", "+447700900123")]
    [InlineData("\u200E+44 7700 900123", "+447700900123")]
    [InlineData("\uFEFF+44 7700 900123", "+447700900123")]
    [InlineData("+44 20 7946\u20130000", "+442079460000")]
    // Rule 2: the country code comes after '+' or the international prefix '00'.
    [InlineData("001-555-010-0199", "+15550100199")]
    [InlineData("0044 20 7946 0000", "+442079460000")]
    [InlineData("5550100199", null)]
    [InlineData("(555) 010-0199", null)]
    [InlineData("0555 0100199", null)]
    // Rule 3: a trunk zero in parentheses right after the country code is dropped; any other zero is kept.
    [InlineData("+44 (0) 7700 900123", "+447700900123")]
    [InlineData("+44(0)20 7946 0000", "+442079460000")]
    [InlineData("+49 (0)30 1234567", "+49301234567")]
    [InlineData("0044 (0) 20 7946 0000", "+442079460000")]
    [InlineData("(+44) (0) 20 7946 0000", "+442079460000")]
    [InlineData("+39 06 6988 0000", "+390669880000")]
    [InlineData("+44 20 (0) 7946 0000", "+4420079460000")]
    // Rule 4: no country code starts with 0.
    [InlineData("+0044 20 7946 0000", null)]
    [InlineData("+00 44 20 7946 0000", null)]
    [InlineData("+0123456789", null)]
    [InlineData("0001 555 010 0199", null)]
    // Rule 5: letters, a second '+', a '+' anywhere but first are not phone numbers.
    [InlineData("+1 555 CALL NOW", null)]
    [InlineData("+1 555 010 0199 ext 5", null)]
    [InlineData("++15550100199", null)]
    [InlineData("1+5550100199", null)]
    [InlineData("+1 555 010 0199#", null)]
    // Rule 6: 8 to 15 digits.
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
