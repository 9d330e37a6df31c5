using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;

namespace Lockstep.Leads;

/// <summary>Leads: leads and their WhatsApp conversations, the signed webhook in, the outbox worker out.</summary>
public static class LeadsModule
{
    public static WebApplicationBuilder AddLeads(this WebApplicationBuilder builder)
    {
        ApiJson.Add(builder.Services, LeadsJson.Default);
        Problems.AddConflictCodes("phone_number_taken");
        builder.Services.AddSingleton(sp => WhatsAppOptions.From(sp.GetRequiredService<IConfiguration>()));
        builder.Services.AddSingleton<WhatsAppCloudApi>();
        builder.Services.AddSingleton<WhatsAppOutboxWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WhatsAppOutboxWorker>());
        return builder;
    }

    public static WebApplication MapLeads(this WebApplication app)
    {
        app.MapLeadEndpoints();
        app.MapWhatsAppEndpoints();
        app.MapWhatsAppWebhook();
        return app;
    }
}

/// <summary>
/// WhatsApp settings: <c>Lockstep:WhatsApp:*</c> (Meta's app secret, verify token, Cloud API base URL,
/// how long connecting waits for the Cloud API) and <c>Lockstep:Leads:Outbox:*</c> (the delivery worker).
/// </summary>
public sealed record WhatsAppOptions(
    string? AppSecret,
    string? VerifyToken,
    Uri ApiBaseUrl,
    TimeSpan VerifyTimeout,
    bool OutboxEnabled,
    TimeSpan PollInterval,
    int BatchSize,
    TimeSpan SendTimeout,
    TimeSpan Lease,
    TimeSpan RetryBaseDelay,
    TimeSpan RetryMaxDelay,
    int MaxAttempts)
{
    public static WhatsAppOptions From(IConfiguration configuration)
    {
        var baseUrl = configuration["Lockstep:WhatsApp:ApiBaseUrl"] is { Length: > 0 } url ? url : "https://graph.facebook.com/v21.0";
        var sendTimeout = TimeSpan.FromMilliseconds(configuration.GetValue("Lockstep:Leads:Outbox:SendTimeoutMs", 15000));
        var options = new WhatsAppOptions(
            NullIfEmpty(configuration["Lockstep:WhatsApp:AppSecret"]),
            NullIfEmpty(configuration["Lockstep:WhatsApp:VerifyToken"]),
            new Uri(baseUrl.TrimEnd('/') + "/"),
            TimeSpan.FromMilliseconds(configuration.GetValue("Lockstep:WhatsApp:VerifyTimeoutMs", 10000)),
            configuration.GetValue("Lockstep:Leads:Outbox:Enabled", true),
            TimeSpan.FromMilliseconds(configuration.GetValue("Lockstep:Leads:Outbox:PollIntervalMs", 1000)),
            configuration.GetValue("Lockstep:Leads:Outbox:BatchSize", 20),
            sendTimeout,
            configuration.GetValue<int?>("Lockstep:Leads:Outbox:LeaseMs") is { } lease ? TimeSpan.FromMilliseconds(lease) : sendTimeout * 4,
            TimeSpan.FromMilliseconds(configuration.GetValue("Lockstep:Leads:Outbox:RetryBaseDelayMs", 30000)),
            TimeSpan.FromMilliseconds(configuration.GetValue("Lockstep:Leads:Outbox:RetryMaxDelayMs", 3600000)),
            configuration.GetValue("Lockstep:Leads:Outbox:MaxAttempts", 10));
        // A row's lease, renewed as its send begins, must cover the send and the recording of it; a
        // shorter one would let another instance send the message again while this one waits for the API.
        if (options.Lease < options.SendTimeout * 2)
        {
            throw new InvalidOperationException(
                "Lockstep:Leads:Outbox:LeaseMs must be at least twice Lockstep:Leads:Outbox:SendTimeoutMs: a message's lease covers its send and the recording of it");
        }
        return options;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
