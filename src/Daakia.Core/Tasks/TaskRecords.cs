using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>The store encodings of a service's record (<see cref="RecordKind.TaskService"/>) and a task's
/// (<see cref="RecordKind.Task"/>), version 1.</summary>
internal static class TaskRecords
{
    private const byte Version = 1;

    public static string Key(Guid id) => id.ToString("N");

    public static PutRecordOp Put(TenantId tenant, ServiceState s) => new(new StoredRecord(tenant, RecordKind.TaskService, s.Info.Name, Encode(s)));

    public static PutRecordOp Put(TenantId tenant, TaskItem t) => new(new StoredRecord(tenant, RecordKind.Task, Key(t.Id), Encode(t)));

    public static DeleteRecordOp Delete(TenantId tenant, Guid id) => new(tenant, RecordKind.Task, Key(id));

    private static byte[] Encode(ServiceState s)
    {
        var w = new Writer();
        w.Byte(Version);
        w.Long(s.CreatedAt.ToUnixTimeMilliseconds());
        w.String(s.Info.Description);
        w.String(s.Info.Version);
        return w.ToArray();
    }

    public static ServiceState DecodeService(string name, ReadOnlySpan<byte> value)
    {
        var r = new RecordReader(value);
        Check(r.Byte(), name);
        var created = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        return new ServiceState(new ServiceOffer(name, r.String(), r.String()), created) { RecordDurable = true };
    }

    private static byte[] Encode(TaskItem t)
    {
        var w = new Writer();
        w.Byte(Version);
        w.String(t.Service);
        w.String(t.Submitter.Value);
        w.Byte((byte)t.State);
        w.Int(t.Priority.Level);
        w.Byte((byte)t.Priority.Placement);
        w.Long(BitConverter.DoubleToInt64Bits(t.Order));
        w.Int(t.Requirements.Cores);
        w.Long(t.Requirements.MemoryBytes);
        var tags = t.Requirements.Software ?? [];
        w.Int(tags.Count);
        foreach (var s in tags)
        {
            w.String(s);
        }

        w.Long(t.Timeout is { } timeout ? (long)timeout.TotalMilliseconds : -1);
        w.Int(t.MaxAttempts);
        w.Long(t.SubmittedAt.ToUnixTimeMilliseconds());
        w.Int(t.Attempts);
        w.String(t.WorkerClient?.Value);
        w.Time(t.AssignedAt);
        w.Time(t.FinishedAt);
        w.Time(t.CancelDeadline);
        w.Bytes(t.Result.Span);
        w.String(t.ResultContentType);
        w.String(t.Error);
        return w.ToArray();
    }

    /// <summary>A task's record, without its payload (the caller gives it: the task queue's entry, or an empty one for a
    /// finished task).</summary>
    public static TaskItem DecodeTask(TenantId tenant, string key, ReadOnlySpan<byte> value, Func<Guid, string, Letter?> payload)
    {
        var r = new RecordReader(value);
        Check(r.Byte(), key);
        var id = Guid.ParseExact(key, "N");
        var service = r.String()!;
        var submitter = ClientId.Parse(r.String()!);
        var state = (TaskState)r.Byte();
        var priority = new TaskPriority(r.Int(), (TaskPlacement)r.Byte());
        var order = BitConverter.Int64BitsToDouble(r.Long());
        var cores = r.Int();
        var memory = r.Long();
        var tags = new string[r.Int()];
        for (var i = 0; i < tags.Length; i++)
        {
            tags[i] = r.String()!;
        }

        var timeout = r.Long();
        var maxAttempts = r.Int();
        var submitted = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var letter = payload(id, service) ?? new Letter { Id = id, Tenant = tenant, Author = submitter, Recipients = [], Payload = ReadOnlyMemory<byte>.Empty, Timestamp = submitted };
        var t = new TaskItem
        {
            Id = id,
            Service = service,
            Submitter = submitter,
            Payload = letter,
            Priority = priority,
            Requirements = new TaskRequirements(cores, memory, tags),
            Timeout = timeout < 0 ? null : TimeSpan.FromMilliseconds(timeout),
            MaxAttempts = maxAttempts,
            SubmittedAt = submitted,
            Order = order,
            State = state,
            Attempts = r.Int(),
        };
        var worker = r.String();
        t.WorkerClient = worker is null ? null : ClientId.Parse(worker);
        t.AssignedAt = r.Time();
        t.FinishedAt = r.Time();
        t.CancelDeadline = r.Time();
        t.Result = r.Bytes().ToArray();
        t.ResultContentType = r.String() ?? Letter.JsonContentType;
        t.Error = r.String();
        return t;
    }

    private static void Check(byte version, string key)
    {
        if (version != Version)
        {
            throw new InvalidDataException($"Task record '{key}' is of an unknown version.");
        }
    }

    private sealed class Writer
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(128);

        public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

        public void Byte(byte value)
        {
            _buffer.GetSpan(1)[0] = value;
            _buffer.Advance(1);
        }

        public void Int(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer.GetSpan(4), value);
            _buffer.Advance(4);
        }

        public void Long(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer.GetSpan(8), value);
            _buffer.Advance(8);
        }

        public void Time(DateTimeOffset? value) => Long(value is { } v ? v.ToUnixTimeMilliseconds() : long.MinValue);

        public void Bytes(ReadOnlySpan<byte> value)
        {
            Int(value.Length);
            _buffer.Write(value);
        }

        public void String(string? value)
        {
            if (value is null)
            {
                Int(-1);
                return;
            }

            Bytes(Encoding.UTF8.GetBytes(value));
        }
    }
}
