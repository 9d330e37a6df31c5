using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Lockstep.Platform.Http;

/// <summary>
/// The console logger with the same formatters (<c>Logging:Console:FormatterName</c> simple, json or
/// systemd, and their options), written in batches. Microsoft's console logger hands every line to its
/// writer thread through a lock and a wake-up; with a line per request that cost ~15 % of the server's
/// CPU per call (bench/README.md, tuning item 9). Here a request formats its line and queues it; the
/// writer wakes for the first line after a quiet spell, then writes what queued in the next
/// <see cref="Interval"/> in one write, and so on while lines keep coming: under load no request wakes anything. Lines reach stdout at
/// most one interval later; on shutdown the queue is written out; a killed process loses at most one
/// interval of lines.
/// </summary>
[ProviderAlias("Console")]
public sealed class BatchedConsoleLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    [ThreadStatic]
    private static StringWriter? t_buffer;

    private readonly ConsoleFormatter _formatter;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _writer;
    private readonly Stream _output;
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();
    private int _writerWaiting;
    private volatile bool _stopping;

    public BatchedConsoleLoggerProvider(IOptionsMonitor<ConsoleLoggerOptions> options, IEnumerable<ConsoleFormatter> formatters)
        : this(options, formatters, Console.OpenStandardOutput())
    {
    }

    public BatchedConsoleLoggerProvider(IOptionsMonitor<ConsoleLoggerOptions> options, IEnumerable<ConsoleFormatter> formatters, Stream output)
    {
        var name = options.CurrentValue.FormatterName ?? ConsoleFormatterNames.Simple;
        _formatter = formatters.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? formatters.First(f => f.Name == ConsoleFormatterNames.Simple);
        _output = output;
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "Console log writer" };
        _writer.Start();
    }

    public ILogger CreateLogger(string categoryName) => new BatchedConsoleLogger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        _writer.Join(TimeSpan.FromSeconds(5));
    }

    private void Enqueue(string line)
    {
        _lines.Enqueue(line);
        if (Volatile.Read(ref _writerWaiting) == 1 && Interlocked.Exchange(ref _writerWaiting, 0) == 1)
        {
            _wake.Set();
        }
    }

    private void WriteLoop()
    {
        using var writer = new StreamWriter(_output, new UTF8Encoding(false), 1 << 16);
        while (true)
        {
            while (_lines.TryDequeue(out var line))
            {
                writer.Write(line);
            }
            writer.Flush();
            if (_stopping)
            {
                if (_lines.IsEmpty)
                {
                    return;
                }
                continue;
            }
            Thread.Sleep(Interval);
            if (!_lines.IsEmpty)
            {
                continue;
            }
            // Announce the wait before the last look at the queue, so a line queued in between wakes us.
            Interlocked.Exchange(ref _writerWaiting, 1);
            if (_lines.IsEmpty && !_stopping)
            {
                _wake.Wait();
            }
            Interlocked.Exchange(ref _writerWaiting, 0);
            _wake.Reset();
        }
    }

    private sealed class BatchedConsoleLogger(BatchedConsoleLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var buffer = t_buffer ??= new StringWriter();
            provider._formatter.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), provider._scopes, buffer);
            var text = buffer.GetStringBuilder();
            if (text.Length > 0)
            {
                provider.Enqueue(text.ToString());
            }
            if (text.Capacity > 4096)
            {
                t_buffer = null;
            }
            else
            {
                text.Clear();
            }
        }
    }
}
