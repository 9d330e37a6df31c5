using System.Text;
using Lockstep.Platform.Http;
using Lockstep.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Lockstep.Tests.Platform;

public sealed class BatchedConsoleLoggerTests
{
    private static BatchedConsoleLoggerProvider Provider(Stream output, string formatter = "simple")
    {
        var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).AddJsonConsole().AddConsole(o => o.FormatterName = formatter))
            .BuildServiceProvider();
        return new BatchedConsoleLoggerProvider(
            services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>(), services.GetServices<ConsoleFormatter>(), output);
    }

    [Fact]
    public void Log_WhenManyThreadsLogAtOnce_WritesEveryLineOnceAndEachThreadsLinesInOrder()
    {
        var output = new MemoryStream();
        var provider = Provider(output);
        var logger = provider.CreateLogger("Bench");

        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, thread =>
        {
            for (var i = 0; i < 2000; i++)
            {
                logger.LogInformation("thread {Thread} line {Line}", thread, i);
            }
        });
        provider.Dispose();

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(16000, lines.Length);
        for (var thread = 0; thread < 8; thread++)
        {
            var mine = lines.Where(l => l.Contains($"thread {thread} line ", StringComparison.Ordinal))
                .Select(l => int.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(0, 2000), mine);
        }
    }

    [Fact]
    public async Task Log_WhenALineFollowsAQuietSpell_WritesItWithoutWaitingForMore()
    {
        var output = new SharedStream();
        using var provider = Provider(output, "json");
        var logger = provider.CreateLogger("Quiet");
        await Task.Delay(BatchedConsoleLoggerProvider.Interval * 3);

        logger.LogWarning("only {Count} line", 1);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!output.Text.Contains("only 1 line", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Contains("\"LogLevel\":\"Warning\"", output.Text, StringComparison.Ordinal);
        Assert.Contains("\"Message\":\"only 1 line\"", output.Text, StringComparison.Ordinal);
    }

    /// <summary>A stream another thread may read while the writer thread writes.</summary>
    private sealed class SharedStream : MemoryStream
    {
        private readonly Lock _lock = new();

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return Encoding.UTF8.GetString(ToArray());
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                base.Write(buffer, offset, count);
            }
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            lock (_lock)
            {
                base.Write(buffer);
            }
        }
    }
}

public sealed class ServerConsoleLoggingTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public void Server_LogsToTheConsoleThroughTheBatchedProviderOnly()
    {
        var providers = server.Factory.Services.GetServices<ILoggerProvider>().ToList();

        Assert.Single(providers.OfType<BatchedConsoleLoggerProvider>());
        Assert.Empty(providers.OfType<ConsoleLoggerProvider>());
    }
}

public sealed class ServerJsonLoggerTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public void JsonFormatter_OfTheServer_WritesAUtcTimestampOnEveryLine()
    {
        var json = server.Factory.Services.GetServices<ConsoleFormatter>().Single(f => f.Name == ConsoleFormatterNames.Json);
        using var line = new StringWriter();
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        json.Write(new LogEntry<string>(LogLevel.Information, "Test", default, "hello", null, (s, _) => s), null, line);

        var entry = System.Text.Json.JsonDocument.Parse(line.ToString()).RootElement;
        Assert.True(entry.TryGetProperty("Timestamp", out var timestamp), line.ToString());
        var at = DateTimeOffset.Parse(timestamp.GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.Zero, at.Offset);
        Assert.InRange(at, before, DateTimeOffset.UtcNow.AddSeconds(1));
    }
}
