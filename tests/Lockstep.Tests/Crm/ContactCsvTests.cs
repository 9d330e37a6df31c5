using Lockstep.Crm;

namespace Lockstep.Tests.Crm;

public sealed class ContactCsvTests
{
    [Fact]
    public void Parse_WhenFieldsAreQuoted_KeepsCommasQuotesAndLineBreaks()
    {
        var result = ContactCsv.Parse("\uFEFFemail,PHONE,name\r\n,+1 555,\"Smith, \"\"Jo\"\"\"\r\na@b.co,+2,\"two\nlines\"");

        Assert.Null(result.Error);
        Assert.Equal([new ImportRow("Smith, \"Jo\"", "+1 555", null), new ImportRow("two\nlines", "+2", "a@b.co")], result.Rows);
    }

    [Fact]
    public void Parse_WhenLinesAreBlankOrShort_SkipsBlanksAndReadsMissingFieldsAsNull()
    {
        var result = ContactCsv.Parse("name,phone,email\n\nAnn\n\n");

        Assert.Equal([new ImportRow("Ann", null, null)], result.Rows);
    }

    [Theory]
    [InlineData("")]
    [InlineData("name,email\nAnn,a@b.co")]
    [InlineData("name,phone\n\"Ann,+1")]
    public void Parse_WhenTheFileCannotBeRead_GivesAnError(string text) =>
        Assert.NotNull(ContactCsv.Parse(text).Error);
}
