using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Lockstep.Tests.Support;

public static class Http
{
    /// <summary>Asserts an RFC 9457 problem response with the given status and stable code; returns its body.</summary>
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.False(text.Contains("   at ", StringComparison.Ordinal), "a stack trace leaked into the response");
        return body;
    }

    public static StringContent Json(string raw, string contentType = "application/json") => new(raw, System.Text.Encoding.UTF8, contentType);
}
