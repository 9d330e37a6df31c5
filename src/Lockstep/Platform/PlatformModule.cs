using Lockstep.Platform.Audit;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Health;
using Lockstep.Platform.Http;
using Lockstep.Platform.Rpc;
using Lockstep.Platform.Workspaces;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Lockstep.Platform;

/// <summary>The foundation every module stands on: database, auth, errors, RPC, health, logs, OpenAPI.</summary>
public static class PlatformModule
{
    public const long DefaultMaxRequestBodyBytes = 1024 * 1024;

    public static WebApplicationBuilder AddPlatform(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<DatabaseHost>();
        services.AddHostedService(sp => sp.GetRequiredService<DatabaseHost>());
        services.AddSingleton<EmbeddedPostgresSupervisor>();
        services.AddHostedService(sp => sp.GetRequiredService<EmbeddedPostgresSupervisor>());
        services.AddSingleton<FunctionCaller>();
        services.AddSingleton<FunctionCatalog>();
        services.AddHostedService(sp => sp.GetRequiredService<FunctionCatalog>());
        services.AddHostedService<IdempotencyPurge>();
        services.AddHostedService<AuditRetention>();
        // SIGTERM: Kestrel stops accepting, in-flight requests and workers get this long to finish.
        services.Configure<HostOptions>(o => o.ShutdownTimeout =
            builder.Configuration.GetValue("Lockstep:ShutdownTimeout", TimeSpan.FromSeconds(30)));

        services.AddSingleton(sp =>
        {
            var configuration = sp.GetRequiredService<IConfiguration>();
            var secret = JwtSecret.Resolve(configuration, JwtSecret.DevelopmentAllowed(configuration, sp.GetService<IHostEnvironment>()));
            return new Hs256Jwt(secret.Key, configuration["Lockstep:JwtAudience"] ?? "authenticated");
        });
        // Core authentication only: the full AddAuthentication would also set up data protection keys on disk.
        services.AddWebEncoders();
        services.TryAddSingleton(TimeProvider.System);
        services.AddAuthenticationCore(o => o.DefaultScheme = BearerTokenHandler.SchemeName);
        new AuthenticationBuilder(services)
            .AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, null);
        services.AddAuthorization();

        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        ApiJson.Add(services, AuditJson.Default);
        services.AddProblemDetails(o => o.CustomizeProblemDetails = Problems.Customize);
        services.AddExceptionHandler<ExceptionProblems>();
        services.AddOptions<KestrelServerOptions>().Configure<IConfiguration>((kestrel, configuration) =>
            kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes(configuration));

        services.AddOptions<ForwardedHeadersOptions>().Configure<IConfiguration>(TrustedProxies.Configure);

        services.AddHealthChecks()
            .AddCheck<DatabaseReadyCheck>("database", tags: ["ready"])
            .AddCheck<EmbeddedPostgresLiveCheck>("embedded-postgres", tags: ["live"]);
        // Lowest-precedence defaults: appsettings, environment and arguments override them.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LoggingDefaults });
        if (builder.Configuration["Logging:Console:FormatterName"] is null or "simple")
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
        }
        // JSON lines carry no time unless asked to; a configured format (FormatterOptions) still wins.
        services.PostConfigure<JsonConsoleFormatterOptions>(o =>
        {
            if (o.TimestampFormat is null)
            {
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
                o.UseUtcTimestamp = true;
            }
        });
        // The same console output, written in batches (formatters and options stay Microsoft's).
        foreach (var console in services.Where(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider)).ToList())
        {
            services.Remove(console);
        }
        services.AddSingleton<ILoggerProvider, BatchedConsoleLoggerProvider>();
        services.AddOpenApi(OpenApiDocument.Configure);
        return builder;
    }

    public static WebApplication MapPlatform(this WebApplication app)
    {
        // First: everything after it (the request log, the console's cookies) sees the client's scheme and address.
        if (TrustedProxies.AnyTrusted(app.Services.GetRequiredService<IOptions<ForwardedHeadersOptions>>().Value))
        {
            app.UseForwardedHeaders();
        }
        app.UseMiddleware<RequestLog>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use((context, next) =>
        {
            var limit = MaxRequestBodyBytes(context.RequestServices.GetRequiredService<IConfiguration>());
            // Kestrel enforces the limit while reading; checking the declared length first answers
            // before any of the body is read, also on servers without that feature (the test host).
            if (context.Request.ContentLength > limit)
            {
                throw new Microsoft.AspNetCore.Http.BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge);
            }
            return next(context);
        });
        app.UseAuthentication();
        app.UseMiddleware<BearerTokenMiddleware>();
        app.UseAuthorization();
        app.UseMiddleware<Idempotency>();

        app.MapHealthChecks("/health/live", new() { Predicate = check => check.Tags.Contains("live"), ResponseWriter = HealthResponse.WriteAsync });
        app.MapHealthChecks("/health/ready", new() { Predicate = check => check.Tags.Contains("ready"), ResponseWriter = HealthResponse.WriteAsync });
        app.MapOpenApi();
        app.MapRpc();
        app.MapWorkspaces();
        app.MapAudit();
        return app;
    }

    private static readonly Dictionary<string, string?> LoggingDefaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        // A failed start is printed by the command line in one sentence; the host's copy is a stack trace.
        ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
        // An unhealthy probe answers with its reason; its copy in the log is a line per probe all through an outage.
        ["Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks"] = "Critical",
    };

    private static long MaxRequestBodyBytes(IConfiguration configuration) =>
        configuration.GetValue("Lockstep:MaxRequestBodyBytes", DefaultMaxRequestBodyBytes);
}
