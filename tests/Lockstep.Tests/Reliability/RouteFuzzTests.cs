using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Lockstep.Platform.Auth;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Xunit.Abstractions;

namespace Lockstep.Tests.Reliability;

/// <summary>
/// 10,000 generated bad requests (fixed seed) over every route the app maps, read from its
/// EndpointDataSource: malformed JSON, wrong types, huge/negative/NaN numbers, long and odd Unicode,
/// SQL fragments, missing and extra fields, wrong content types, oversized and deeply nested bodies,
/// bad route values, bad tokens. No response may be a 5xx and no row of any table may change.
/// </summary>
public sealed class RouteFuzzTests(ServerFixture server, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    private const int Seed = 20261121;
    private const int Requests = 10_000;
    private const int Concurrency = 8;
    public const string WebhookSecret = "fuzz-app-secret";

    [Fact]
    public async Task EveryRoute_WhenFedTenThousandBadRequests_AnswersWithoutServerErrorsAndChangesNoRow()
    {
        var world = await RouteWorld.CreateAsync(server);
        var functions = await FunctionsAsync();
        var routes = RouteWorld.Endpoints(server.Factory.Services).Select(e => new FuzzRoute(e)).ToList();
        var generator = new BadRequestGenerator(new Random(Seed), world, functions, server.Jwt);
        var plan = Enumerable.Range(0, Requests).Select(i => generator.Next(routes[i % routes.Count])).ToList();

        // The same app on the same database, with WhatsApp configured so signed webhook deliveries get
        // past the signature check and into the database, and with its logs quiet.
        await using var factory = server.Factory.WithWebHostBuilder(b => b
            .UseSetting("Lockstep:WhatsApp:AppSecret", WebhookSecret)
            .UseSetting("Lockstep:WhatsApp:VerifyToken", "fuzz-verify-token")
            .UseSetting("Logging:LogLevel:Default", "Error"));
        var before = await RouteWorld.SnapshotAsync(server);
        var statuses = new int[Requests];
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            using var client = factory.CreateClient(new() { AllowAutoRedirect = false });
            int i;
            while ((i = Interlocked.Increment(ref next)) < plan.Count)
            {
                statuses[i] = await SendAsync(client, plan[i]);
            }
        }));
        clock.Stop();
        var after = await RouteWorld.SnapshotAsync(server);

        var serverErrors = plan.Zip(statuses).Where(p => p.Second >= 500 || p.Second == 0)
            .Select(p => $"{p.Second} {p.First}").ToList();
        var changed = before.Keys.Union(after.Keys)
            .Where(t => !before.TryGetValue(t, out var b) || !after.TryGetValue(t, out var a) || a != b).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{plan.Count} requests over {routes.Count} routes in {clock.Elapsed.TotalSeconds:0.0} s; "
            + $"statuses {string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}×{g.Count()}"))}; "
            + $"rows checked {before.Values.Sum(v => v.Rows)} in {before.Count} tables, changed tables {changed.Count}"));

        foreach (var (request, status) in plan.Zip(statuses).Where(p => p.Second is >= 200 and < 300 && p.First.Method != "GET"))
        {
            output.WriteLine($"accepted: {status} {request}");
        }
        Assert.True(serverErrors.Count == 0, $"{serverErrors.Count} server errors:\n" + string.Join("\n", serverErrors.Take(40)));
        Assert.True(changed.Count == 0, "rows changed in: " + string.Join(", ", changed));
        Assert.Equal(routes.Count, plan.Select(p => p.Route).Distinct().Count());
    }

    private static async Task<int> SendAsync(HttpClient client, BadRequest request)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path);
        if (request.Authorization is not null)
        {
            message.Headers.TryAddWithoutValidation("Authorization", request.Authorization);
        }
        if (request.Body is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(request.Body);
            if (request.Signed)
            {
                message.Headers.TryAddWithoutValidation(Lockstep.Leads.WhatsAppWebhookEndpoints.SignatureHeader,
                    Lockstep.Leads.WhatsAppWebhookEndpoints.Sign(bytes, WebhookSecret));
            }
            message.Content = new ByteArrayContent(bytes);
            if (request.ContentType is not null)
            {
                message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
            }
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            // Headers only: the notification stream never ends by itself.
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return (int)response.StatusCode;
        }
        catch (OperationCanceledException)
        {
            return 0; // a hang is as bad as a 5xx
        }
    }

    /// <summary>The exposed functions' input arguments: name, SQL type, and whether it has a default.</summary>
    private async Task<Dictionary<string, RpcArgument[]>> FunctionsAsync()
    {
        var functions = new Dictionary<string, RpcArgument[]>(StringComparer.Ordinal);
        await using var command = server.DataSource.CreateCommand("""
            select p.proname,
                   coalesce((select array_agg(coalesce(p.proargnames[o], '') order by o) from unnest(p.proargtypes) with ordinality as u(t, o)), '{}'),
                   coalesce((select array_agg(format_type(t, null) order by o) from unnest(p.proargtypes) with ordinality as u(t, o)), '{}'),
                   p.pronargdefaults
            from pg_proc p
            where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
            """);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var names = reader.GetFieldValue<string[]>(1);
            var types = reader.GetFieldValue<string[]>(2);
            var defaults = reader.GetInt16(3);
            functions[reader.GetString(0)] = names.Select((n, i) => new RpcArgument(n, types[i], i >= names.Length - defaults)).ToArray();
        }
        return functions;
    }
}

/// <summary>What the fuzzer knows of one route: method, pattern, route values, query parameters, body shape.</summary>
public sealed class FuzzRoute
{
    public FuzzRoute(RouteEndpoint endpoint)
    {
        Key = RouteWorld.Key(endpoint);
        Method = RouteWorld.Method(endpoint);
        Pattern = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
        RouteParameters = endpoint.RoutePattern.Parameters.Select(p => p.Name).ToList();
        var accepts = endpoint.Metadata.GetMetadata<IAcceptsMetadata>();
        BodyType = accepts?.RequestType;
        var handler = endpoint.Metadata.GetMetadata<MethodInfo>();
        QueryParameters = handler?.GetParameters()
            .Where(p => p.Name is not null && !RouteParameters.Contains(p.Name) && IsSimple(p.ParameterType)
                && p.GetCustomAttributes().All(a => a.GetType().Name is not ("FromBodyAttribute" or "FromServicesAttribute" or "FromHeaderAttribute")))
            .Select(p => (p.Name!, p.ParameterType))
            .ToList() ?? [];
        TakesBody = Method is "POST" or "PUT" or "PATCH";
    }

    public string Key { get; }
    public string Method { get; }
    public string Pattern { get; }
    public List<string> RouteParameters { get; }
    public List<(string Name, Type Type)> QueryParameters { get; }
    public Type? BodyType { get; }
    public bool TakesBody { get; }

    private static bool IsSimple(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type == typeof(string) || type == typeof(decimal) || type == typeof(Guid)
            || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(DateOnly);
    }
}

public sealed record BadRequest(string Route, string Method, string Path, string? Authorization, string? Body, string? ContentType, string Defects)
{
    /// <summary>Sent with a valid X-Hub-Signature-256 (webhook deliveries).</summary>
    public bool Signed { get; init; }

    public override string ToString() =>
        $"{Method} {(Path.Length > 160 ? Path[..160] + "…" : Path)} [{Defects}] auth={(Authorization is null ? "none" : Authorization.Length > 20 ? Authorization[..20] + "…" : Authorization)} "
        + $"ct={ContentType} body={(Body is null ? "none" : Body.Length > 200 ? Body[..200] + "…" : Body)}";
}

/// <summary>
/// Makes requests that must be refused: each one carries at least one defect that stops it before any
/// write (a broken body, a bad or foreign route value, a missing or bad token, an outsider's call).
/// </summary>
public sealed record RpcArgument(string Name, string SqlType, bool HasDefault)
{
    /// <summary>The C# type whose odd values fit it (text takes any JSON scalar: json_to_record coerces).</summary>
    public Type ClrType => SqlType switch
    {
        "uuid" => typeof(Guid),
        "integer" or "bigint" or "smallint" => typeof(int),
        "numeric" => typeof(decimal),
        "boolean" => typeof(bool),
        "timestamp with time zone" => typeof(DateTimeOffset),
        _ => typeof(string),
    };
}

public sealed class BadRequestGenerator(Random random, RouteWorld world, Dictionary<string, RpcArgument[]> functions, Hs256Jwt jwt)
{
    private static readonly string[] OddStrings =
    [
        "", " ", "\t\n", "null", "undefined", "NaN", "Infinity", "-1", "1e309", "0x10", "true",
        "'; drop table crm.clients; --", "' or '1'='1", "\" or 1=1 --", "1; select pg_sleep(5)", "$1", "%s%s%n", "\\", "\\\\'",
        "../../etc/passwd", "<script>alert(1)</script>", "${jndi:ldap://x}", "{{7*7}}", "\u0000", "a\u0000b", "\uFFFF", "\uFEFF",
        "\u202Eevil\u202C", "\u200B\u200C\u200D", "💥🎉👩‍👩‍👧‍👦", "𝕳𝖊𝖑𝖑𝖔", "Ω≈ç√∫˜µ≤≥÷", "١٢٣٤", "日本語テキスト", "e\u0301\u0301\u0301\u0301",
        "+1 (555) 010-0199", "+15550100111", "00000000-0000-0000-0000-000000000000", "2024-02-30T25:61:00Z", "ada@example.com",
        "owner", "admin", "member", "full", "split", "order", "active",
    ];

    private static readonly string[] OddNumbers =
    [
        "0", "-1", "-0.01", "-0", "1e309", "-1e309", "1e-400", "79228162514264337593543950336", "2147483648", "-2147483649",
        "9223372036854775808", "123456789012345678901234567890.123", "0.000000000000000000000000000001", "1.5", "99999999999.999",
        "1E+2", "3.4028235e+38",
    ];

    private static readonly string[] Malformed =
    [
        "{", "}", "{\"a\":}", "{\"a\" 1}", "{'a': 1}", "{\"a\":1,}", "[1,2", "nul", "tru", "NaN", "{\"amount\": NaN}",
        "{\"amount\": Infinity}", "{\"amount\": -Infinity}", "{\"price\": 0x10}", "{\"name\": \"unterminated}", "\u00ff\u00fe{",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\x41\"}", "{\"a\":01}", "{\"a\":1}{\"b\":2}", "/* comment */ {}", "{\"a\":\"b\"\u0000}",
        "<xml/>", "a=1&b=2", "name,phone\n\"unterminated", "\"\\u0000\"",
    ];

    private static readonly string[] ContentTypes =
    [
        "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/json; charset=latin1", "application/json-patch+json", "text/csv", "image/png", "*/*", "application/",
    ];

    private readonly Hs256Jwt _otherSecret = new(Encoding.UTF8.GetBytes("some-other-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), "authenticated");

    public BadRequest Next(FuzzRoute route)
    {
        var defects = new List<string>();
        var (authorization, caller) = Caller(defects);

        var path = new StringBuilder();
        var refusedByRoute = false;
        var realScoped = false;
        var rpcFunction = (string?)null;
        foreach (var segment in route.Pattern.Split('/').Skip(1))
        {
            path.Append('/');
            path.Append(System.Text.RegularExpressions.Regex.Replace(segment, @"\{([^}:?]+)[^}]*\}", m =>
            {
                var name = m.Groups[1].Value;
                var (value, kind) = RouteValue(name);
                if (kind == "real")
                {
                    realScoped |= world.IdFor(name) is not null;
                    rpcFunction = name == "function" ? value : rpcFunction;
                }
                else
                {
                    refusedByRoute = true;
                    defects.Add($"{kind} {name}");
                }
                return Uri.EscapeDataString(value);
            }));
        }
        if (route.Pattern.EndsWith('/') && path[^1] != '/')
        {
            path.Append('/');
        }
        path.Append(Query(route, defects));

        string? body = null;
        string? contentType = null;
        var refusedByBody = false;
        // A body only stops a request when the route reads it as JSON (ImportContacts also takes CSV).
        var bodyMatters = route.BodyType is not null || rpcFunction is not null;
        if (route.TakesBody || random.Next(10) == 0)
        {
            (body, refusedByBody) = Body(route, rpcFunction, defects);
            contentType = random.Next(6) == 0 ? Pick(ContentTypes) : random.Next(20) == 0 ? null : "application/json";
            if (contentType != "application/json")
            {
                defects.Add($"content-type {contentType ?? "none"}");
            }
            refusedByBody &= bodyMatters && contentType == "application/json";
        }

        // Only a request that cannot be carried out is a bad request; make sure it carries a defect
        // that stops it (a refusal is the point, not a write made with odd but valid values).
        var refused = refusedByRoute || refusedByBody || caller is "anonymous" or "bad token"
            || (caller == "outsider" && realScoped) || route.Method == "GET";
        if (!refused)
        {
            if (route.TakesBody && bodyMatters)
            {
                (body, _) = Body(route, rpcFunction, defects, forceDefect: true);
                contentType = "application/json";
            }
            else
            {
                authorization = random.Next(2) == 0 ? null : "Bearer " + _otherSecret.Mint(world.Owner, TimeSpan.FromHours(1));
                defects.Add("forced: caller without a valid token");
            }
        }
        // Half the webhook deliveries are correctly signed: no generated body is a routable delivery,
        // so those must be acknowledged or refused without storing anything.
        var signed = route.Pattern.StartsWith("/api/webhooks/", StringComparison.Ordinal) && body is not null && random.Next(2) == 0;
        return new BadRequest(route.Key, route.Method, path.ToString(), authorization, body, contentType, string.Join("; ", defects)) { Signed = signed };
    }

    private (string? Authorization, string Caller) Caller(List<string> defects)
    {
        var roll = random.Next(100);
        if (roll < 35)
        {
            return ("Bearer " + jwt.Mint(world.Owner, TimeSpan.FromHours(1)), "owner");
        }
        if (roll < 70)
        {
            defects.Add("outsider");
            return ("Bearer " + jwt.Mint(world.Outsider, TimeSpan.FromHours(1)), "outsider");
        }
        if (roll < 80)
        {
            defects.Add("no token");
            return (null, "anonymous");
        }
        defects.Add("bad token");
        var valid = jwt.Mint(world.Owner, TimeSpan.FromHours(1));
        var parts = valid.Split('.');
        var bad = random.Next(8) switch
        {
            0 => "Bearer " + _otherSecret.Mint(world.Owner, TimeSpan.FromHours(1)),
            1 => "Bearer " + jwt.Mint(world.Owner, TimeSpan.FromSeconds(-120)),
            2 => "Bearer " + parts[0] + "." + parts[1] + ".",
            3 => "Bearer eyJhbGciOiJub25lIn0." + parts[1] + ".",
            4 => "Bearer " + parts[0] + "." + Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"sub\":\"" + world.Owner + "\",\"role\":\"service_role\"}")).TrimEnd('=') + "." + parts[2],
            5 => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("owner:password")),
            6 => "Bearer " + Pick(OddStrings).Replace("\0", "", StringComparison.Ordinal),
            _ => "Bearer " + new string('A', 20_000),
        };
        return (bad, "bad token");
    }

    private (string Value, string Kind) RouteValue(string name)
    {
        var roll = random.Next(100);
        if (name == "function")
        {
            if (roll < 70)
            {
                return (Pick(functions.Keys.Order(StringComparer.Ordinal).ToArray()), "real");
            }
            return (Pick(["pg_sleep", "version", "current_setting", "set_config", "crm.normalize_phone", "leads.ingest_whatsapp", "claim_outbox",
                "applied_migrations", "audit_row", "create_workspace;drop", "CREATE_WORKSPACE", "", "..", "%00"]), "unknown function");
        }
        if (roll < 55 && world.IdFor(name) is Guid real)
        {
            return (real.ToString(), "real");
        }
        if (roll < 75)
        {
            return (Guid.NewGuid().ToString(), "random id");
        }
        // Not ".." for a workspace: /api/workspaces/../purchases/{id}/use is the route's id-only twin,
        // /api/purchases/{id}/use, a real call that must change the pack.
        string[] malformed = ["not-a-guid", "' or 1=1 --", "0", "-1", "00000000-0000-0000-0000-00000000000g", "{" + Guid.NewGuid() + "}",
            new string('9', 5000), "💥", "null", Guid.NewGuid().ToString("N") + "0", .. name == "workspaceId" ? Array.Empty<string>() : [".."]];
        return (Pick(malformed), "malformed id");
    }

    private string Query(FuzzRoute route, List<string> defects)
    {
        var pairs = new List<string>();
        foreach (var (name, type) in route.QueryParameters)
        {
            if (random.Next(3) == 0)
            {
                continue;
            }
            var value = random.Next(3) == 0 ? Pick(OddStrings) : random.Next(2) == 0 ? Pick(OddNumbers) : Plausible(type);
            pairs.Add($"{Uri.EscapeDataString(name)}={Uri.EscapeDataString(value.Replace("\0", "%00", StringComparison.Ordinal))}");
        }
        if (random.Next(8) == 0)
        {
            pairs.Add($"zz_extra={Uri.EscapeDataString(Pick(OddStrings).Replace("\0", "", StringComparison.Ordinal))}");
            defects.Add("extra query");
        }
        return pairs.Count == 0 ? "" : "?" + string.Join('&', pairs);
    }

    private static string Plausible(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(bool) ? "true" : type == typeof(Guid) ? Guid.NewGuid().ToString()
            : type == typeof(DateTimeOffset) || type == typeof(DateTime) ? "2026-01-01T00:00:00Z" : type == typeof(DateOnly) ? "2026-01-01"
            : type == typeof(string) ? "x" : "10";
    }

    /// <summary>A body for the route; with a defect that stops it when one is rolled or forced.</summary>
    private (string Body, bool Refused) Body(FuzzRoute route, string? rpcFunction, List<string> defects, bool forceDefect = false)
    {
        var fields = Fields(route, rpcFunction);
        var values = fields.ToDictionary(f => f.Name, f => Value(f.Type, 0), StringComparer.Ordinal);
        var roll = forceDefect ? random.Next(12, 100) : random.Next(100);
        string kind;
        if (roll < 12)
        {
            kind = "odd values only";
        }
        else if (roll < 30)
        {
            defects.Add("malformed json");
            return (random.Next(3) == 0 && values.Count > 0 ? Truncated(Serialize(values)) : Pick(Malformed), true);
        }
        else if (roll < 50 && fields.Any(f => rpcFunction is null || f.Type != typeof(string)))
        {
            // PostgreSQL reads any JSON scalar into a text argument, so for rpc only typed arguments can be wrong.
            var field = Pick(fields.Where(f => rpcFunction is null || f.Type != typeof(string)).Select(f => f.Name).ToArray());
            values[field] = rpcFunction is null ? WrongKind(fields.First(f => f.Name == field).Type) : Pick(["\"zz-not-valid\"", "{}", "[1]"]);
            kind = $"wrong type {field}";
        }
        else if (roll < 62 && fields.Any(f => f.Required))
        {
            var field = Pick(fields.Where(f => f.Required).Select(f => f.Name).ToArray());
            values.Remove(field);
            kind = $"missing {field}";
        }
        else if (roll < 76)
        {
            values["zz_" + random.Next(1000).ToString(CultureInfo.InvariantCulture)] = Pick(["1", "\"x\"", "null", "{}", "[]"]);
            kind = "extra field";
        }
        else if (roll < 86)
        {
            defects.Add("wrong root");
            // An array is the right root for a route that takes a list (contacts:import).
            return route.BodyType?.IsArray == true
                ? (Pick(["{}", "\"text\"", "42", "null", "true"]), true)
                : (Pick(["[]", "[{}]", "\"text\"", "42", "null", "true", "[" + Serialize(values) + "]"]), true);
        }
        else if (roll < 93)
        {
            defects.Add("deep nesting");
            var depth = random.Next(65, 5000);
            return (new string('[', depth) + new string(']', depth), true);
        }
        else
        {
            defects.Add("oversized body");
            return ("{\"name\":\"" + new string('x', 1024 * 1024 + random.Next(1000)) + "\"}", true);
        }
        defects.Add(kind);
        // Odd values in a valid shape are only refused when something else stops the request.
        return (Serialize(values), kind != "odd values only");
    }

    private List<(string Name, Type Type, bool Required)> Fields(FuzzRoute route, string? rpcFunction)
    {
        if (rpcFunction is not null)
        {
            return functions.TryGetValue(rpcFunction, out var args)
                ? args.Where(a => a.Name.Length > 0).Select(a => (a.Name, a.ClrType, !a.HasDefault)).ToList()
                : [];
        }
        var type = route.BodyType;
        if (type is null || type == typeof(string))
        {
            return [];
        }
        if (type.IsArray)
        {
            return [("items", type, true)];
        }
        var constructor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).FirstOrDefault();
        return constructor?.GetParameters()
            .Select(p => (JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name!), p.ParameterType, !p.HasDefaultValue))
            .ToList() ?? [];
    }

    private string Value(Type type, int depth)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        if (random.Next(12) == 0)
        {
            return "null";
        }
        if (underlying == typeof(string))
        {
            return random.Next(10) == 0 ? JsonString(string.Concat(Enumerable.Repeat(Pick(["a", "é", "💥", "\u3042", "\u202E"]), random.Next(1000, 10_000))))
                : JsonString(Pick(OddStrings));
        }
        if (underlying == typeof(decimal) || underlying == typeof(int) || underlying == typeof(long) || underlying == typeof(double))
        {
            return Pick(OddNumbers);
        }
        if (underlying == typeof(Guid))
        {
            return random.Next(2) == 0 ? JsonString(Guid.NewGuid().ToString()) : JsonString((world.IdFor(Pick(["clientId", "contactId", "itemId", "bookingId"])) ?? Guid.Empty).ToString());
        }
        if (underlying == typeof(bool))
        {
            return random.Next(2) == 0 ? "true" : "false";
        }
        if (underlying == typeof(DateTimeOffset) || underlying == typeof(DateTime))
        {
            return JsonString(Pick(["2026-12-01T10:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-12-01T10:00:00+14:00", "1970-01-01T00:00:00Z"]));
        }
        if (underlying.IsArray && depth < 2)
        {
            var element = underlying.GetElementType()!;
            var count = random.Next(4);
            return "[" + string.Join(',', Enumerable.Range(0, count).Select(_ => Value(element, depth + 1))) + "]";
        }
        if (underlying.IsClass && depth < 2)
        {
            var constructor = underlying.GetConstructors().OrderByDescending(c => c.GetParameters().Length).FirstOrDefault();
            if (constructor is not null)
            {
                return Serialize(constructor.GetParameters().ToDictionary(
                    p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name!), p => Value(p.ParameterType, depth + 1)));
            }
        }
        return "{}";
    }

    private string WrongKind(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        var options = underlying == typeof(string)
            ? new[] { "123", "true", "{}", "[\"a\"]", "1.5" }
            : underlying == typeof(bool) ? ["\"true\"", "1", "\"yes\"", "[]"]
            : underlying == typeof(Guid) ? ["\"not-a-guid\"", "123", "\"\"", "{}", "\"" + Guid.NewGuid() + "x\""]
            : underlying.IsArray ? ["{}", "\"a,b\"", "1", "[[[]]]"]
            : underlying.IsPrimitive || underlying == typeof(decimal) ? ["\"12\"", "\"NaN\"", "\"Infinity\"", "true", "[]", "{}", "\"1e3\""]
            : ["\"text\"", "1", "[]", "true"];
        return Pick(options);
    }

    private static string Serialize(Dictionary<string, string> values) =>
        "{" + string.Join(',', values.Select(v => JsonString(v.Key) + ":" + v.Value)) + "}";

    private string Truncated(string json) => json[..random.Next(1, Math.Max(2, json.Length - 1))];

    /// <summary>A JSON string literal that keeps what a serializer would clean up: NUL, lone surrogates, bidi marks.</summary>
    private static string JsonString(string value)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in value)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                _ when c < ' ' => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return builder.Append('"').ToString();
    }

    private T Pick<T>(T[] options) => options[random.Next(options.Length)];
}
