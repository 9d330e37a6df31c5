using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Cli;

namespace Lockstep.Tests.Platform.Cli;

/// <summary>The CLI reads its settings from environment variables and prints to Console.Out, both process-wide.</summary>
[CollectionDefinition(nameof(ProcessWideState), DisableParallelization = true)]
public sealed class ProcessWideState;

[Collection(nameof(ProcessWideState))]
public sealed class LockstepCliTests
{
    private const string Secret = "cli-test-secret-0123456789-abcdefghijklmnop";

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("90", 90)]
    [InlineData("30m", 30 * 60)]
    [InlineData("1h", 60 * 60)]
    [InlineData(" 7d ", 7 * 24 * 60 * 60)]
    [InlineData("366d", 366 * 24 * 60 * 60)]
    public void TryParseLifetime_WhenWellFormed_GivesTheLifetime(string text, int seconds)
    {
        Assert.True(LockstepCli.TryParseLifetime(text, out var lifetime));
        Assert.Equal(TimeSpan.FromSeconds(seconds), lifetime);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("0h")]
    [InlineData("-5m")]
    [InlineData("1.5h")]
    [InlineData("1w")]
    [InlineData("h")]
    [InlineData("1H")]
    [InlineData("10 m")]
    [InlineData("367d")]
    [InlineData("9999999999")]
    public void TryParseLifetime_WhenMalformedOrTooLong_Refuses(string text) =>
        Assert.False(LockstepCli.TryParseLifetime(text, out _));

    [Fact]
    public async Task Token_WhenSecretIsConfigured_PrintsATokenThatVerifiesWithThatSecret()
    {
        var user = Guid.NewGuid();

        var (exitCode, output, _) = await RunAsync("token", "--user", user.ToString(), "--ttl", "30m", "--role", "service_role");

        Assert.Equal(0, exitCode);
        var token = output.Trim();
        var jwt = new Hs256Jwt(Encoding.UTF8.GetBytes(Secret), "authenticated");
        Assert.True(jwt.TryVerify(token, out var verified, out var rejection), rejection.ToString());
        Assert.Equal(user, verified!.UserId);
        Assert.Equal("service_role", verified.Role);
        var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(token.Split('.')[1])).RootElement;
        Assert.Equal(30 * 60, claims.GetProperty("exp").GetInt64() - claims.GetProperty("iat").GetInt64());
    }

    [Fact]
    public async Task Token_WhenTtlIsMalformed_ExitsWith2AndPrintsNoToken()
    {
        var (exitCode, output, _) = await RunAsync("token", "--user", Guid.NewGuid().ToString(), "--ttl", "soon");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Token_WhenUserIsNotAUuid_ExitsWith2WithOneClearLineAndNoToken()
    {
        var (exitCode, output, error) = await RunAsync("token", "--user", "bob");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal("lockstep: --user must be a uuid, such as 6f1c1b8e-8a36-4c1e-9a4e-2f1b0f6b9a11" + Environment.NewLine, error);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var previousSecret = Environment.GetEnvironmentVariable("Lockstep__JwtSecret");
        var previousOut = Console.Out;
        var previousError = Console.Error;
        using var output = new StringWriter();
        using var error = new StringWriter();
        Environment.SetEnvironmentVariable("Lockstep__JwtSecret", Secret);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var exitCode = await LockstepCli.RunAsync(args, _ => throw new InvalidOperationException("token must not start a server"));
            return (exitCode, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(previousOut);
            Console.SetError(previousError);
            Environment.SetEnvironmentVariable("Lockstep__JwtSecret", previousSecret);
        }
    }
}
