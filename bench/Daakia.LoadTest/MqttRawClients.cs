using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Daakia.LoadTest;

/// <summary>
/// <c>mqtt-fanin --client raw</c> and <c>mqtt-fanout --client raw</c>: the fan-in of <see cref="MqttFanInScenario"/>
/// and the fan-out of <see cref="MqttFanOutScenario"/> with bare MQTT 5.0 clients over sockets (packets written by
/// hand, several per send; PUBLISHes and PUBACKs read in bulk), so that the load generator spends as little of the
/// shared cores as it can and the broker's own cost decides the rate. The same checks: per-publisher order at every
/// subscriber, duplicates, gaps; QoS 1 must lose nothing.
/// </summary>
internal static class MqttRawClients
{
    private const int SendChunk = 16 * 1024;

    public static async Task<int> RunAsync(Args args, bool fanOut = false)
    {
        var (host, port) = MqttFanInScenario.Endpoint(args.String("mqtt", "127.0.0.1:1883"));
        var publishers = fanOut ? 1 : args.Int("publishers", 8);
        var subscribers = fanOut ? args.Int("subscribers", 100) : 1;
        var messages = args.Int("messages", fanOut ? 2_000 : 10_000);
        var payloadSize = Math.Max(24, args.Int("payload", 256));
        var window = args.Int("window", 64);
        var qos = args.Int("qos", fanOut ? 0 : 1);
        if (qos is not (0 or 1))
        {
            throw new ArgumentException("--client raw does QoS 0 and 1");
        }

        var pid = args.OptionalInt("pid");
        var socketBuffer = args.Int("socket-buffer", 8192);
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = Encoding.UTF8.GetBytes($"lt/{run}/{(fanOut ? "out" : "in")}");
        var scenario = fanOut ? "mqtt-fanout" : "mqtt-fanin";
        Console.WriteLine($"{scenario} (raw clients): {publishers} publisher(s) × {messages} messages of ~{payloadSize} B → {subscribers} subscriber(s) at QoS {qos}, window {window}, MQTT 5.0, {host}:{port}");

        var check = new Check((long)publishers * messages * subscribers);
        var receiving = new List<Task>();
        var subscriberSockets = new Socket[subscribers];
        for (var s = 0; s < subscribers; s++)
        {
            var socket = subscriberSockets[s] = await ConnectAsync(host, port, $"lt-{run}-sub-{s}", socketBuffer);
            await SubscribeAsync(socket, topic, qos);
            var tracker = new Tracker(check, publishers);
            receiving.Add(Task.Run(() => ReceiveAsync(socket, qos, tracker)));
        }

        var clients = new Socket[publishers];
        for (var i = 0; i < publishers; i++)
        {
            clients[i] = await ConnectAsync(host, port, $"lt-{run}-pub-{i}", socketBuffer);
        }

        long errors = 0;
        var cpu0 = ProcStats.CpuSeconds(pid);
        var started = Stopwatch.StartNew();
        var sending = clients.Select((c, i) => Task.Run(async () =>
        {
            if (!await PublishAllAsync(c, i, messages, topic, payloadSize, qos, window))
            {
                Interlocked.Increment(ref errors);
            }
        })).ToArray();
        await Task.WhenAll(sending);

        // Everything, or (QoS 0 may drop) until nothing has arrived for two seconds.
        while (!check.Done.IsCompleted && !receiving.Any(r => r.IsCompleted))
        {
            await Task.WhenAny(check.Done, Task.Delay(200));
            if (check.SinceLastReceipt > TimeSpan.FromSeconds(qos == 0 ? 2 : 30))
            {
                break;
            }
        }

        var elapsed = started.Elapsed;
        var cpu = ProcStats.CpuSeconds(pid) - cpu0;
        if (receiving.FirstOrDefault(r => r.IsFaulted) is { } faulted)
        {
            await faulted; // a malformed packet or payload: the run fails with it
        }

        foreach (var c in clients)
        {
            await DisconnectAsync(c);
        }

        foreach (var s in subscriberSockets)
        {
            await DisconnectAsync(s);
        }

        var (received, duplicates, outOfOrder, missing) = check.Totals();
        var extra = new Dictionary<string, object> { ["qos"] = qos, ["lost_qos0"] = qos == 0 ? missing : 0, ["client"] = "raw" };
        extra[fanOut ? "subscribers" : "published"] = fanOut ? subscribers : (long)publishers * messages;
        return Report.Throughput(scenario, received - duplicates, elapsed, check.Latencies, new Latencies(), cpu, duplicates, qos == 0 ? 0 : missing, outOfOrder, errors, extra);
    }

    /// <summary>What every subscriber saw together: counts, latencies, the last receipt.</summary>
    private sealed class Check(long expected)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _received, _duplicates, _outOfOrder, _lastReceipt = Stopwatch.GetTimestamp();

        public Latencies Latencies { get; } = new();

        public Task Done => _done.Task;

        public TimeSpan SinceLastReceipt => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastReceipt));

        public void Count(bool duplicate, bool outOfOrder, long now, long sent)
        {
            Latencies.Add(now - sent);
            if (duplicate)
            {
                Interlocked.Increment(ref _duplicates);
            }

            if (outOfOrder)
            {
                Interlocked.Increment(ref _outOfOrder);
            }

            Volatile.Write(ref _lastReceipt, now);
            if (Interlocked.Increment(ref _received) >= expected)
            {
                _done.TrySetResult();
            }
        }

        public (long Received, long Duplicates, long OutOfOrder, long Missing) Totals()
        {
            var received = Interlocked.Read(ref _received);
            var duplicates = Interlocked.Read(ref _duplicates);
            return (received, duplicates, Interlocked.Read(ref _outOfOrder), expected - received + duplicates);
        }
    }

    /// <summary>One subscriber's view: the order of each publisher's sequence (its receive loop only).</summary>
    private sealed class Tracker(Check check, int publishers)
    {
        private readonly long[] _last = Enumerable.Repeat(-1L, publishers).ToArray();

        public void Received(ReadOnlySpan<byte> payload, long now)
        {
            var p = BinaryPrimitives.ReadInt32LittleEndian(payload);
            var seq = BinaryPrimitives.ReadInt64LittleEndian(payload[4..]);
            var sent = BinaryPrimitives.ReadInt64LittleEndian(payload[12..]);
            if ((uint)p >= (uint)_last.Length)
            {
                throw new InvalidDataException($"a payload names publisher {p}");
            }

            var duplicate = seq == _last[p];
            var outOfOrder = seq < _last[p];
            if (seq > _last[p])
            {
                _last[p] = seq;
            }

            check.Count(duplicate, outOfOrder, now, sent);
        }
    }

    private static async Task<Socket> ConnectAsync(string host, int port, string clientId, int socketBuffer)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = socketBuffer, ReceiveBufferSize = socketBuffer };
        await socket.ConnectAsync(host, port);
        var id = Encoding.UTF8.GetBytes(clientId);
        // CONNECT, MQTT 5.0, clean start, keep-alive 600 s, no properties.
        byte[] body = [0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 5, 0x02, 0x02, 0x58, 0, (byte)(id.Length >> 8), (byte)id.Length, .. id];
        await socket.SendAsync(Packet(0x10, body));
        var head = await ReadPacketAsync(socket);
        if (head.Type != 0x20 || head.Body.Length < 2 || head.Body[1] != 0)
        {
            throw new IOException($"{clientId} was refused: CONNACK {Convert.ToHexString(head.Body)}");
        }

        return socket;
    }

    private static async Task SubscribeAsync(Socket socket, byte[] topic, int qos)
    {
        // SUBSCRIBE id 1, no properties, one filter with its options (the QoS).
        byte[] body = [0, 1, 0, (byte)(topic.Length >> 8), (byte)topic.Length, .. topic, (byte)qos];
        await socket.SendAsync(Packet(0x82, body));
        var ack = await ReadPacketAsync(socket);
        if (ack.Type != 0x90 || ack.Body[^1] > 2)
        {
            throw new IOException($"SUBSCRIBE refused: {Convert.ToHexString(ack.Body)}");
        }
    }

    private static async Task DisconnectAsync(Socket socket)
    {
        try
        {
            await socket.SendAsync(new byte[] { 0xE0, 0 });
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }

        socket.Dispose();
    }

    private static byte[] Packet(byte first, byte[] body)
    {
        var header = new byte[5];
        header[0] = first;
        var n = 1 + WriteVarInt(header.AsSpan(1), body.Length);
        return [.. header.AsSpan(0, n), .. body];
    }

    private static int WriteVarInt(Span<byte> span, int value)
    {
        var i = 0;
        do
        {
            var b = (byte)(value % 128);
            value /= 128;
            span[i++] = value > 0 ? (byte)(b | 0x80) : b;
        }
        while (value > 0);
        return i;
    }

    /// <summary>One whole packet (set-up only: CONNACK, SUBACK).</summary>
    private static async Task<(byte Type, byte[] Body)> ReadPacketAsync(Socket socket)
    {
        var one = new byte[1];
        await ReadExactlyAsync(socket, one);
        var type = (byte)(one[0] & 0xF0);
        int length = 0, shift = 0;
        do
        {
            await ReadExactlyAsync(socket, one);
            length |= (one[0] & 0x7F) << shift;
            shift += 7;
        }
        while ((one[0] & 0x80) != 0);
        var body = new byte[length];
        await ReadExactlyAsync(socket, body);
        return (type, body);
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = await socket.ReceiveAsync(buffer);
            if (n == 0)
            {
                throw new IOException("the broker closed the connection");
            }

            buffer = buffer[n..];
        }
    }

    /// <summary>
    /// One publisher: PUBLISH packets written into a chunk and sent several at a time; at QoS 1 at most
    /// <paramref name="window"/> unacknowledged (a PUBACK loop frees the slots). False on a refused publish.
    /// </summary>
    private static async Task<bool> PublishAllAsync(Socket socket, int publisher, int messages, byte[] topic, int payloadSize, int qos, int window)
    {
        var remaining = 2 + topic.Length + (qos > 0 ? 2 : 0) + 1 + payloadSize;
        var size = 1 + VarIntSize(remaining) + remaining;
        var chunk = new byte[Math.Max(SendChunk, size)];
        var used = 0;
        using var slots = new SemaphoreSlim(window, window);
        var acks = qos > 0 ? Task.Run(() => ReadAcksAsync(socket, slots, messages)) : Task.FromResult(true);
        for (var seq = 0; seq < messages; seq++)
        {
            if (qos > 0 && !slots.Wait(0))
            {
                if (used > 0)
                {
                    await SendAllAsync(socket, chunk.AsMemory(0, used));
                    used = 0;
                }

                await slots.WaitAsync();
            }

            if (used + size > chunk.Length)
            {
                await SendAllAsync(socket, chunk.AsMemory(0, used));
                used = 0;
            }

            var span = chunk.AsSpan(used, size);
            span[0] = (byte)(0x30 | (qos << 1));
            var i = 1 + WriteVarInt(span[1..], remaining);
            BinaryPrimitives.WriteUInt16BigEndian(span[i..], (ushort)topic.Length);
            topic.CopyTo(span[(i + 2)..]);
            i += 2 + topic.Length;
            if (qos > 0)
            {
                BinaryPrimitives.WriteUInt16BigEndian(span[i..], (ushort)(seq % 65_535 + 1));
                i += 2;
            }

            span[i++] = 0; // no properties
            BinaryPrimitives.WriteInt32LittleEndian(span[i..], publisher);
            BinaryPrimitives.WriteInt64LittleEndian(span[(i + 4)..], seq);
            BinaryPrimitives.WriteInt64LittleEndian(span[(i + 12)..], Stopwatch.GetTimestamp());
            span[(i + 20)..].Fill((byte)'x');
            used += size;
        }

        if (used > 0)
        {
            await SendAllAsync(socket, chunk.AsMemory(0, used));
        }

        return await acks;
    }

    private static int VarIntSize(int value) => value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[await socket.SendAsync(bytes)..];
        }
    }

    /// <summary>Reads PUBACKs until <paramref name="messages"/> came, freeing a slot for each; false if one refused.</summary>
    private static async Task<bool> ReadAcksAsync(Socket socket, SemaphoreSlim slots, int messages)
    {
        var buffer = new byte[64 * 1024];
        int have = 0, acked = 0;
        var ok = true;
        while (acked < messages)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(have));
            if (n == 0)
            {
                throw new IOException("the broker closed a publisher's connection");
            }

            have += n;
            var at = CountAcks(buffer.AsSpan(0, have), out var freed, ref ok);
            Buffer.BlockCopy(buffer, at, buffer, 0, have - at);
            have -= at;
            if (freed > 0)
            {
                acked += freed;
                slots.Release(freed);
            }
        }

        return ok;
    }

    private static int CountAcks(ReadOnlySpan<byte> data, out int freed, ref bool ok)
    {
        var at = 0;
        freed = 0;
        while (TryPacket(data[at..], out var first, out var bodyStart, out var length))
        {
            if ((first & 0xF0) == 0x40)
            {
                ok &= length < 3 || data[at + bodyStart + 2] < 0x80; // a reason code of 0x80 or more refuses the publish
                freed++;
            }

            at += bodyStart + length;
        }

        return at;
    }

    /// <summary>A whole packet at the start of <paramref name="data"/>: its first byte, where its body starts, its length.</summary>
    private static bool TryPacket(ReadOnlySpan<byte> data, out byte first, out int bodyStart, out int length)
    {
        first = 0;
        bodyStart = 0;
        length = 0;
        if (data.Length < 2)
        {
            return false;
        }

        first = data[0];
        int shift = 0, i = 1;
        while (true)
        {
            if (i >= data.Length || i > 4)
            {
                return false;
            }

            var b = data[i++];
            length |= (b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                break;
            }
        }

        bodyStart = i;
        return data.Length >= i + length;
    }

    /// <summary>
    /// The subscriber: PUBLISH packets read in bulk and checked; at QoS 1 their PUBACKs go out on a sender of their own,
    /// so that reading never waits for a write (a broker that stops reading while its own writes are blocked would
    /// otherwise wait for us as we wait for it).
    /// </summary>
    private static async Task ReceiveAsync(Socket socket, int qos, Tracker check)
    {
        var buffer = new byte[256 * 1024];
        var acks = new byte[buffer.Length / 4]; // a PUBLISH is far over 16 bytes, its PUBACK 4
        var outbox = new AckOutbox(socket);
        var sender = qos > 0 ? Task.Run(outbox.RunAsync) : Task.CompletedTask;
        var have = 0;
        try
        {
            while (true)
            {
                if (have == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                    acks = new byte[buffer.Length / 4];
                }

                var n = await socket.ReceiveAsync(buffer.AsMemory(have));
                if (n == 0)
                {
                    return;
                }

                have += n;
                var at = Consume(buffer.AsSpan(0, have), acks, check, out var ackBytes);
                Buffer.BlockCopy(buffer, at, buffer, 0, have - at);
                have -= at;
                if (ackBytes > 0 && qos > 0)
                {
                    outbox.Add(acks.AsSpan(0, ackBytes));
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // closed at the end
        }
        finally
        {
            outbox.Complete();
            await sender;
        }
    }

    /// <summary>PUBACKs waiting to be written: the reader adds, one sender loop writes whatever has gathered.</summary>
    private sealed class AckOutbox(Socket socket)
    {
        private readonly Lock _gate = new();
        private readonly SemaphoreSlim _wake = new(0);
        private byte[] _pending = new byte[64 * 1024];
        private byte[] _spare = new byte[64 * 1024];
        private int _count;
        private bool _completed;

        public void Add(ReadOnlySpan<byte> bytes)
        {
            bool wake;
            lock (_gate)
            {
                if (_count + bytes.Length > _pending.Length)
                {
                    Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _count + bytes.Length));
                }

                bytes.CopyTo(_pending.AsSpan(_count));
                wake = _count == 0;
                _count += bytes.Length;
            }

            if (wake)
            {
                _wake.Release();
            }
        }

        public void Complete()
        {
            lock (_gate)
            {
                _completed = true;
            }

            _wake.Release();
        }

        public async Task RunAsync()
        {
            try
            {
                while (true)
                {
                    await _wake.WaitAsync();
                    byte[] batch;
                    int n;
                    lock (_gate)
                    {
                        if (_count == 0)
                        {
                            if (_completed)
                            {
                                return;
                            }

                            continue;
                        }

                        (batch, n) = (_pending, _count);
                        (_pending, _spare, _count) = (_spare, batch, 0);
                        if (_pending.Length < batch.Length)
                        {
                            _pending = new byte[batch.Length];
                        }
                    }

                    await SendAllAsync(socket, batch.AsMemory(0, n));
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // closed at the end
            }
        }
    }

    /// <summary>Checks the whole PUBLISH packets in <paramref name="data"/> and writes a PUBACK for each QoS 1 one;
    /// returns the bytes consumed.</summary>
    private static int Consume(ReadOnlySpan<byte> data, Span<byte> acks, Tracker check, out int ackBytes)
    {
        var now = Stopwatch.GetTimestamp();
        var at = 0;
        ackBytes = 0;
        while (TryPacket(data[at..], out var first, out var bodyStart, out var length))
        {
            if ((first & 0xF0) == 0x30)
            {
                var body = data.Slice(at + bodyStart, length);
                var packetQos = (first >> 1) & 3;
                var i = 2 + BinaryPrimitives.ReadUInt16BigEndian(body);
                ushort id = 0;
                if (packetQos > 0)
                {
                    id = BinaryPrimitives.ReadUInt16BigEndian(body[i..]);
                    i += 2;
                }

                // Properties: their length, then skip them.
                int props = 0, shift = 0;
                byte b;
                do
                {
                    b = body[i++];
                    props |= (b & 0x7F) << shift;
                    shift += 7;
                }
                while ((b & 0x80) != 0);
                check.Received(body[(i + props)..], now);
                if (packetQos == 1)
                {
                    acks[ackBytes] = 0x40;
                    acks[ackBytes + 1] = 2;
                    BinaryPrimitives.WriteUInt16BigEndian(acks[(ackBytes + 2)..], id);
                    ackBytes += 4;
                }
            }

            at += bodyStart + length;
        }

        return at;
    }
}
