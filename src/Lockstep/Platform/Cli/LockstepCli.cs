using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;

namespace Lockstep.Platform.Cli;

/// <summary>The <c>lockstep</c> command line: <c>serve</c>, <c>migrate</c>, <c>token</c>, and the modules' commands.</summary>
public static partial class LockstepCli
{
    public static async Task<int> RunAsync(string[] args, Func<string[], WebApplication> createServer, params Command[] moduleCommands)
    {
        // Hosting tools (and WebApplicationFactory) start the program with --key=value settings only.
        if (args.Length > 0 && args[0].StartsWith("--", StringComparison.Ordinal) && args[0] is not ("--help" or "--version"))
        {
            args = ["serve", .. args];
        }

        var root = new RootCommand("Lockstep: atomic business operations over PostgreSQL");
        root.Subcommands.Add(ServeCommand(createServer));
        root.Subcommands.Add(MigrateCommand());
        root.Subcommands.Add(TokenCommand());
        foreach (var command in moduleCommands)
        {
            root.Subcommands.Add(command);
        }
        try
        {
            // Our own handler below prints known failures as one sentence instead of a stack trace.
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is EmbeddedPostgresException or MigrationException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"lockstep: {e.Message}");
            return 1;
        }
    }

    private static Command ServeCommand(Func<string[], WebApplication> createServer)
    {
        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. http://127.0.0.1:5080" };
        var serve = new Command("serve", "Run the server (on the embedded PostgreSQL when no database is configured)")
        {
            urls,
        };
        serve.TreatUnmatchedTokensAsErrors = false;
        serve.SetAction(async (parse, cancellationToken) =>
        {
            var hostArgs = parse.UnmatchedTokens.ToList();
            if (parse.GetValue(urls) is { } u)
            {
                hostArgs.Add($"--urls={u}");
            }
            await using var app = createServer([.. hostArgs]);
            var secret = JwtSecret.Resolve(app.Configuration, JwtSecret.DevelopmentAllowed(app.Configuration, app.Environment));
            // The path, never the content: whoever reads the logs must not be able to mint tokens.
            if (secret.DevelopmentSecretFile is { } file)
            {
                Console.WriteLine($"Lockstep:JwtSecret is not set: tokens are signed with the development secret kept in {file}; mint one with: ./lockstep token --user <uuid>");
            }
            await app.RunAsync();
            return 0;
        });
        return serve;
    }

    private static Command MigrateCommand()
    {
        var migrate = new Command("migrate", "Apply pending migrations (db/migrations) and changed definitions (db/functions) and exit");
        migrate.SetAction((_, cancellationToken) => WithDatabaseAsync((_, _) =>
        {
            Console.WriteLine($"Database is at migration {Migration.BuiltIn[^1].Name} ({Migration.BuiltIn.Count} migrations, {Definition.BuiltIn.Count} definition files).");
            return Task.FromResult(0);
        }, cancellationToken));
        return migrate;
    }

    /// <summary>
    /// Runs a command against the database the server would use (starting the embedded cluster and
    /// migrating when needed, stopping it afterwards): for module commands such as one-off passes.
    /// </summary>
    public static async Task<int> WithDatabaseAsync(Func<DatabaseHost, CancellationToken, Task<int>> action, CancellationToken cancellationToken)
    {
        var configuration = Configuration();
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
        await using var database = new DatabaseHost(configuration, loggerFactory.CreateLogger<DatabaseHost>());
        await database.StartAsync(cancellationToken);
        return await action(database, cancellationToken);
    }

    private static Command TokenCommand()
    {
        // Read as text and checked below: the parser's own message for a bad value names the .NET type.
        var user = new Option<string>("--user") { Description = "The user's uuid (the token's sub)", Required = true };
        var ttl = new Option<string>("--ttl") { Description = "Lifetime: 30m, 1h, 7d, or seconds", DefaultValueFactory = _ => "1h" };
        var role = new Option<string>("--role") { Description = "The role claim", DefaultValueFactory = _ => "authenticated" };
        var token = new Command("token", "Print a signed development token for a user") { user, ttl, role };
        token.SetAction(parse =>
        {
            var configuration = Configuration();
            if (!Guid.TryParse(parse.GetValue(user), out var userId))
            {
                Console.Error.WriteLine("lockstep: --user must be a uuid, such as 6f1c1b8e-8a36-4c1e-9a4e-2f1b0f6b9a11");
                return 2;
            }
            if (!TryParseLifetime(parse.GetValue(ttl)!, out var lifetime))
            {
                Console.Error.WriteLine("lockstep: --ttl must look like 90s, 30m, 1h or 7d");
                return 2;
            }
            var secret = JwtSecret.Resolve(configuration, JwtSecret.DevelopmentAllowed(configuration, null));
            var jwt = new Hs256Jwt(secret.Key, configuration["Lockstep:JwtAudience"] ?? "authenticated");
            Console.WriteLine(jwt.Mint(userId, lifetime, parse.GetValue(role)!));
            return 0;
        });
        return token;
    }

    public static bool TryParseLifetime(string text, out TimeSpan lifetime)
    {
        lifetime = default;
        var match = LifetimePattern().Match(text.Trim());
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            return false;
        }
        lifetime = match.Groups[2].Value switch
        {
            "m" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            "d" => TimeSpan.FromDays(amount),
            _ => TimeSpan.FromSeconds(amount),
        };
        return lifetime <= TimeSpan.FromDays(366);
    }

    [GeneratedRegex("^([0-9]{1,9})(s|m|h|d)?$")]
    private static partial Regex LifetimePattern();

    // The working directory, as serve's content root: the same appsettings.json for every command.
    private static IConfiguration Configuration() => new ConfigurationBuilder()
        .SetBasePath(Directory.GetCurrentDirectory())
        .AddJsonFile("appsettings.json", optional: true)
        .AddEnvironmentVariables()
        .Build();
}
