using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace Lockstep.Platform.Http;

/// <summary>
/// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c>, believed only from the proxies named in
/// <c>Lockstep:ForwardedHeaders</c> (<c>KnownProxies</c>: addresses, <c>KnownNetworks</c>: CIDR ranges),
/// so that behind a TLS proxy a request is https (the console cookie keeps <c>Secure</c>) and its remote
/// address is the client's. Nobody is trusted unless configured.
/// </summary>
public static class TrustedProxies
{
    public const string Section = "Lockstep:ForwardedHeaders";

    public static void Configure(ForwardedHeadersOptions options, IConfiguration configuration)
    {
        options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
        // Each hop is checked against the lists, so a chain of trusted proxies unwinds to the client and
        // the first untrusted address stops it; ASP.NET Core's default of one hop would stop at the second proxy.
        options.ForwardLimit = null;
        // ASP.NET Core trusts loopback out of the box; here only what is configured.
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var text in List(configuration, "KnownProxies"))
        {
            options.KnownProxies.Add(IPAddress.TryParse(text, out var address) ? address : throw Invalid("KnownProxies", text, "an IP address"));
        }
        foreach (var text in List(configuration, "KnownNetworks"))
        {
            options.KnownIPNetworks.Add(System.Net.IPNetwork.TryParse(text, out var network)
                ? network : throw Invalid("KnownNetworks", text, "a CIDR range such as 10.0.0.0/8"));
        }
    }

    /// <summary>
    /// Whether any proxy is trusted. The middleware must be left out otherwise: with both lists empty it
    /// skips its address check and believes the headers from anyone.
    /// </summary>
    public static bool AnyTrusted(ForwardedHeadersOptions options) => options.KnownProxies.Count > 0 || options.KnownIPNetworks.Count > 0;

    /// <summary>A list setting: an array (<c>KnownProxies:0</c>, ...) or one comma-separated value, handier in an environment variable.</summary>
    private static IEnumerable<string> List(IConfiguration configuration, string name)
    {
        var section = configuration.GetSection($"{Section}:{name}");
        var values = section.Value is { } single ? [single] : section.GetChildren().Select(c => c.Value ?? "");
        return values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
    }

    private static InvalidOperationException Invalid(string name, string text, string expected) =>
        new($"{Section}:{name} '{text}' is not {expected}.");
}
