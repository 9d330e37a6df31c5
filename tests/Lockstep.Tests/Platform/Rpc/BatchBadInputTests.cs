using System.Net;
using System.Text.Json;
using static Lockstep.Tests.Platform.Rpc.Batches;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>Malformed batches are answered 400 (naming the call where there is one) before anything runs.</summary>
public sealed class BatchBadInputTests(BatchServerFixture server) : IClassFixture<BatchServerFixture>
{
    // {0} is a valid first call that creates a client: if anything ran, it would be counted.
    [Theory]
    [InlineData("""{"calls": [{0}, """, "PGRST102", null)]
    [InlineData("", "PGRST102", null)]
    [InlineData("""{"calls": [{0}], "calls": [{0}]}""", "PGRST102", null)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": "a", "p_note": "b"}}]}""", "PGRST102", null)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_echo", "args": {"p_value": {"a": {"$ref": "0"}, "a": 1}}}]}""", "PGRST102", null)]
    [InlineData("""[{0}]""", "batch_invalid", null)]
    [InlineData("""{"calls": {0}}""", "batch_invalid", null)]
    [InlineData("""{"calls": "create_client_with_contact"}""", "batch_invalid", null)]
    [InlineData("""{"calls": []}""", "batch_invalid", null)]
    [InlineData("""{"call": [{0}]}""", "batch_invalid", null)]
    [InlineData("""{"calls": [{0}], "atomic": true}""", "batch_invalid", null)]
    [InlineData("""{"calls": [{0}, "use_session"]}""", "batch_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"args": {}}]}""", "batch_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": 42, "args": {}}]}""", "batch_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "", "args": {}}]}""", "batch_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": ["x"]}]}""", "batch_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": "x"}, "after": 0}]}""", "batch_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": {"$ref": 0}}}]}""", "batch_ref_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": {"$ref": "0.client_id", "or": 1}}}]}""", "batch_ref_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": {"$ref": "first.client_id"}}}]}""", "batch_ref_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": {"$ref": "-1.client_id"}}}]}""", "batch_ref_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_note", "args": {"p_note": {"$ref": "0..client_id"}}}]}""", "batch_ref_invalid", 1)]
    [InlineData("""{"calls": [{0}, {"fn": "test_batch_echo", "args": {"p_value": [{"$ref": "1"}]}}]}""", "batch_ref_invalid", 1)]
    public async Task Batch_WhenTheBodyIsMalformed_Answers400AndRunsNothing(string template, string code, int? index)
    {
        var user = Guid.NewGuid();
        var created = await server.ScalarAsUserAsync<string>(user, "select public.create_workspace('Studio')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        var first = $$$"""{"fn": "create_client_with_contact", "args": {"p_workspace_id": "{{{workspace}}}", "p_client_name": "Ann", "p_contact_name": "Ann"}}""";

        var response = await PostAsync(server.Client(user), template.Replace("{0}", first, StringComparison.Ordinal));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, code, index);
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task Batch_WhenItHasMoreThanFiftyCalls_Answers400NamingTheLimit()
    {
        var calls = Enumerable.Range(0, 51).Select(_ => ("test_batch_note", (object)new { p_note = "x" })).ToArray();

        var response = await PostAsync(server.Client(Guid.NewGuid()), Body(calls));

        var error = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "batch_too_many_calls", null);
        Assert.Contains("50", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"p_nope": 1}""")] // an argument the function does not have
    [InlineData("""{}""")] // a required argument missing
    public async Task Batch_WhenACallsArgumentsMatchNoFunction_Answers404NamingTheCall(string args)
    {
        var response = await PostAsync(server.Client(Guid.NewGuid()),
            $$$"""{"calls": [{"fn": "test_batch_note", "args": {"p_note": "x"}}, {"fn": "use_session", "args": {{{args}}}}]}""");

        var error = await AssertErrorAsync(response, HttpStatusCode.NotFound, "PGRST202", 1);
        // use_session has two forms (by pack id, and with the workspace first): the hint names one of them.
        Assert.Matches(@"public\.use_session\(p_purchase_id(, p_workspace_id)?\)", error.GetProperty("hint").GetString());
    }

    [Fact]
    public async Task Batch_WhenAnArgumentHasTheWrongType_Answers400FromPostgresAndRollsBack()
    {
        var user = Guid.NewGuid();
        var created = await server.ScalarAsUserAsync<string>(user, "select public.create_workspace('Studio')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();

        var response = await PostAsync(server.Client(user), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" }),
            ("create_purchase", new { p_client_id = Ref("0.client_id"), p_sessions_total = "ten" })));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "22P02", 1);
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task Batch_WhenAnotherSchemaIsAskedFor_Answers406()
    {
        var client = server.Client(Guid.NewGuid());
        client.DefaultRequestHeaders.Add("Content-Profile", "crm");

        var response = await PostAsync(client, Body(("test_batch_note", new { p_note = "x" })));

        Assert.Equal(HttpStatusCode.NotAcceptable, response.StatusCode);
    }

    [Fact]
    public async Task Batch_WhenTheTokenIsInvalid_Answers401AndRunsNothing()
    {
        var client = server.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", "not.a.token");

        var response = await PostAsync(client, Body(("test_batch_note", new { p_note = "x" })));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
