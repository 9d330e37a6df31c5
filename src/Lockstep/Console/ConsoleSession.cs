using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Npgsql;

namespace Lockstep.WebConsole;

/// <summary>One argument of a console call: the function's parameter name and its value.</summary>
public readonly record struct Arg(string Name, object? Value);

/// <summary>A function's answer: its JSON on success, or the sentence for a person and the code of a refusal.</summary>
public sealed record CallResult(JsonElement Value, string? Code, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>A signed-in browser: its verified token and chosen workspace, held in server memory only.</summary>
public sealed class ConsoleState(VerifiedToken token)
{
    public VerifiedToken Token { get; } = token;
    public Guid? WorkspaceId { get; set; }
    public string? WorkspaceName { get; set; }
    public DateTimeOffset LastSeen { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// The signed-in browsers of this process. The cookie carries only a random key (HttpOnly, so the
/// page's scripts never see it); the token itself never leaves the server. A session lasts as long as
/// its token is accepted, and ends after 8 idle hours before that.
/// </summary>
public sealed class ConsoleSessions
{
    private static readonly TimeSpan IdleLimit = TimeSpan.FromHours(8);
    private readonly ConcurrentDictionary<string, ConsoleState> _states = new();

    public string Add(ConsoleState state)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var (key, old) in _states)
        {
            if (Ended(old, now))
            {
                _states.TryRemove(key, out _);
            }
        }
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        _states[id] = state;
        return id;
    }

    /// <summary>The session behind a cookie; null when there is none, or its token has expired (it is then removed).</summary>
    public ConsoleState? Find(string? id)
    {
        if (id is null || !_states.TryGetValue(id, out var state))
        {
            return null;
        }
        var now = DateTimeOffset.UtcNow;
        if (Ended(state, now))
        {
            _states.TryRemove(id, out _);
            return null;
        }
        state.LastSeen = now;
        return state;
    }

    private static bool Ended(ConsoleState state, DateTimeOffset now) =>
        now >= state.Token.ValidUntil || now - state.LastSeen > IdleLimit;

    public void Remove(string? id)
    {
        if (id is not null)
        {
            _states.TryRemove(id, out _);
        }
    }
}

/// <summary>The console's view of one request: who is signed in, and calls as them.</summary>
public sealed class ConsoleSession(FunctionCaller db, Hs256Jwt jwt, ConsoleSessions sessions, IHttpContextAccessor http, ILogger<ConsoleSession> log)
{
    public const string Cookie = "lockstep_console";

    private HttpContext Context => http.HttpContext!;

    public ConsoleState? State => sessions.Find(Context.Request.Cookies[Cookie]);

    public VerifiedToken? Token => State?.Token;

    public Guid? UserId => Token?.UserId;

    public Guid? WorkspaceId => State?.WorkspaceId;

    public string? WorkspaceName => State?.WorkspaceName;

    /// <summary>Signs in with a pasted token; returns the refusal sentence, or null.</summary>
    public string? SignIn(string token)
    {
        if (!jwt.TryVerify(token.Trim(), out var verified, out var rejection))
        {
            return rejection switch
            {
                TokenRejection.Expired => "This token has expired",
                TokenRejection.SignatureInvalid => "This token was not signed by this server",
                TokenRejection.AudienceInvalid => "This token is for another audience",
                TokenRejection.ExpiryMissing => "This token has no exp claim",
                _ => "This is not a valid token",
            };
        }
        if (verified!.UserId is null)
        {
            return "This token names no user";
        }
        Start(verified);
        return null;
    }

    /// <summary>Development only (the caller checks): signs in as a user without a token from outside.</summary>
    public void SignInAs(Guid user)
    {
        jwt.TryVerify(jwt.Mint(user, TimeSpan.FromHours(8)), out var verified, out _);
        Start(verified!);
    }

    private void Start(VerifiedToken token)
    {
        var id = sessions.Add(new ConsoleState(token));
        Context.Response.Cookies.Append(Cookie, id, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = Context.Request.IsHttps,
            Path = "/console",
        });
    }

    public void SignOut()
    {
        sessions.Remove(Context.Request.Cookies[Cookie]);
        Context.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/console" });
    }

    public void SelectWorkspace(Guid id, string name)
    {
        if (State is { } state)
        {
            state.WorkspaceId = id;
            state.WorkspaceName = name;
        }
    }

    public Task<CallResult> CallAsync(string function, params Arg[] args) => CallAsync(db, Token, log, function, args);

    /// <summary>Calls <c>public.<paramref name="function"/></c> with named arguments as <paramref name="token"/>'s user.</summary>
    public static async Task<CallResult> CallAsync(FunctionCaller db, VerifiedToken? token, ILogger log, string function, params Arg[] args)
    {
        var named = string.Join(", ", args.Select((a, i) => $"{a.Name} => ${i + 1}"));
        try
        {
            var text = await db.CallAsync(token, $"select public.{function}({named})", args.Select(a => a.Value).ToArray(), CancellationToken.None);
            if (text is null)
            {
                return new CallResult(default, "not_found", "Nothing was found");
            }
            var value = JsonDocument.Parse(text).RootElement.Clone();
            if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False)
            {
                return new CallResult(value, value.GetProperty("code").GetString(), value.GetProperty("error").GetString());
            }
            return new CallResult(value, null, null);
        }
        catch (PostgresException e)
        {
            // The same mapping as the API: a constraint backstop or bad input becomes its stable code and sentence.
            var problem = Problems.FromPostgres(e).ProblemDetails;
            if (problem.Status >= 500)
            {
                log.LogError(e, "Console call {Function} failed", function);
            }
            return new CallResult(default, problem.Extensions["code"] as string, problem.Detail);
        }
        catch (CommandTimeoutException)
        {
            return new CallResult(default, "database_timeout", Problems.DatabaseTimeout().ProblemDetails.Detail);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            log.LogError(e, "Console call {Function} failed", function);
            return new CallResult(default, "database_unavailable", "The database is not available; try again shortly");
        }
    }
}
