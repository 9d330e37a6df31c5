using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Lockstep.Gifts;

/// <summary>
/// In-memory fan-out from the process's one LISTEN connection to the live streams of each user. A
/// signal only says "look again": each stream reads its new rows from the table, so a coalesced or
/// missed signal never loses a notification.
/// </summary>
public sealed class NotificationHub
{
    private readonly ConcurrentDictionary<Guid, ConcurrentDictionary<Subscription, byte>> _subscribers = new();

    public int SubscriberCount => _subscribers.Values.Sum(s => s.Count);

    /// <summary>The users with at least one open stream.</summary>
    public Guid[] Users => [.. _subscribers.Where(s => !s.Value.IsEmpty).Select(s => s.Key)];

    public Subscription Subscribe(Guid user)
    {
        var subscription = new Subscription(this, user);
        _subscribers.GetOrAdd(user, _ => new()).TryAdd(subscription, 0);
        return subscription;
    }

    /// <summary>Wakes every stream of <paramref name="user"/>.</summary>
    public void Publish(Guid user)
    {
        if (_subscribers.TryGetValue(user, out var streams))
        {
            foreach (var stream in streams.Keys)
            {
                stream.Signal();
            }
        }
    }

    /// <summary>Wakes every stream, after the listener reconnected and may have missed signals.</summary>
    public void PublishAll()
    {
        foreach (var streams in _subscribers.Values)
        {
            foreach (var stream in streams.Keys)
            {
                stream.Signal();
            }
        }
    }

    private void Remove(Subscription subscription)
    {
        if (_subscribers.TryGetValue(subscription.User, out var streams))
        {
            streams.TryRemove(subscription, out _);
        }
    }

    public sealed class Subscription(NotificationHub hub, Guid user) : IDisposable
    {
        // Capacity one: several signals before the stream reads collapse into one wake-up.
        private readonly Channel<bool> _signals = Channel.CreateBounded<bool>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

        public Guid User { get; } = user;

        internal void Signal() => _signals.Writer.TryWrite(true);

        /// <summary>Waits for a signal; false when <paramref name="timeout"/> passed first.</summary>
        public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (_signals.Reader.TryRead(out _))
            {
                return true;
            }
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timer.CancelAfter(timeout);
            try
            {
                await _signals.Reader.WaitToReadAsync(timer.Token);
                _signals.Reader.TryRead(out _);
                return true;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }

        public void Dispose() => hub.Remove(this);
    }
}
