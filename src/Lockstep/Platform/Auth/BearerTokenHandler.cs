using System.Security.Claims;
using System.Text.Encodings.Web;
using Lockstep.Platform.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Lockstep.Platform.Auth;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;HS256 JWT&gt;</c>. A request without the header is anonymous;
/// a request with a header that fails any check is answered 401 and runs nothing (see <see cref="BearerTokenMiddleware"/>).
/// </summary>
public sealed class BearerTokenHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    Hs256Jwt jwt) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(Reject(TokenRejection.Malformed));
        }
        if (!jwt.TryVerify(header["Bearer ".Length..].Trim(), out var token, out var rejection))
        {
            return Task.FromResult(Reject(rejection));
        }

        Context.Features.Set(token!);
        var claims = new List<Claim>();
        if (token!.UserId is { } userId)
        {
            claims.Add(new Claim(ClaimTypes.NameIdentifier, userId.ToString()));
        }
        if (token.Role is { } role)
        {
            claims.Add(new Claim(ClaimTypes.Role, role));
        }
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        Problems.WriteUnauthenticated(Context, Context.Features.Get<TokenRejectionFeature>()?.Rejection);

    private AuthenticateResult Reject(TokenRejection rejection)
    {
        Context.Features.Set(new TokenRejectionFeature(rejection));
        return AuthenticateResult.Fail(rejection.ToString());
    }
}

/// <summary>Set on a request whose bearer token was refused.</summary>
public sealed record TokenRejectionFeature(TokenRejection Rejection);

/// <summary>A presented token that fails verification is answered 401 on every route, even anonymous ones.</summary>
public sealed class BearerTokenMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        // UseAuthentication ran the handler just before, which records a refusal as this feature.
        if (context.Features.Get<TokenRejectionFeature>() is { } rejected)
        {
            await Problems.WriteUnauthenticated(context, rejected.Rejection);
            return;
        }
        await next(context);
    }
}
