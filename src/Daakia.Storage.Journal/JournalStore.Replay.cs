using System.Buffers.Binary;
using System.IO.Hashing;
using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Journal;

/// <summary>Replay at open: every whole record of the journal applied to the state, a torn tail left for the caller to cut.</summary>
public sealed partial class JournalStore
{
    /// <summary>Applies every whole record of the journal; returns how many and the length of the whole ones (a torn
    /// or damaged tail after them, left by a crash mid-write, is cut off by the caller).</summary>
    private (long Records, long Length) Replay(Stream file, long fileLength)
    {
        file.Position = 0;
        var header = new byte[HeaderSize];
        var body = new byte[64 * 1024];
        long offset = 0, records = 0;
        var messages = new Dictionary<(TenantId, Guid), JMessage>();
        var ids = new Dictionary<int, JQueue>();
        while (true)
        {
            if (file.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize)
            {
                return (records, offset);
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
            if (length == 0 || length > MaxRecordBytes || length > fileLength - offset - HeaderSize)
            {
                return (records, offset);
            }

            if (body.Length < length)
            {
                body = new byte[Math.Max(length, body.Length * 2)];
            }

            var span = body.AsSpan(0, (int)length);
            file.ReadExactly(span);
            if (Crc32.HashToUInt32(span) != crc)
            {
                return (records, offset);
            }

            ApplyRecord(span, ids, messages);
            offset += HeaderSize + length;
            records++;
        }
    }

    /// <summary>Applies one record's effects (replaying: nothing is logged).</summary>
    private void ApplyRecord(ReadOnlySpan<byte> body, Dictionary<int, JQueue> ids, Dictionary<(TenantId, Guid), JMessage> messages)
    {
        var r = new RecordReader(body);
        while (!r.End)
        {
            var effect = (Effect)r.Byte();
            switch (effect)
            {
                case Effect.DefineQueue:
                {
                    var id = r.Int();
                    var tenant = TenantId.Parse(r.String());
                    var kind = (QueueKind)r.Byte();
                    var q = QueueOf(new QueueKey(tenant, kind, r.String()));
                    ids[id] = q;
                    _nextFileId = Math.Max(_nextFileId, id);
                    q.FileId = id;
                    q.FileGeneration = _fileGeneration;
                    break;
                }

                case Effect.Append:
                {
                    var m = new JMessage(ReadLetter(ref r));
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var q = Queue(ids, r.Int());
                        var position = r.Long();
                        if (q.ById.TryGetValue(m.Letter.Id, out var twice))
                        {
                            TakeEntry(twice, null);
                        }

                        PutEntry(q, m, position, 0, m.Letter.VisibleAt, null);
                    }

                    break;
                }

                case Effect.Remove:
                {
                    var q = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        if (q.ById.TryGetValue(r.Guid(), out var e))
                        {
                            TakeEntry(e, null);
                        }
                    }

                    break;
                }

                case Effect.Return:
                {
                    var q = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var id = r.Guid();
                        var deliveries = r.Int();
                        var visible = r.OptionalTime();
                        if (q.ById.TryGetValue(id, out var e))
                        {
                            e.Deliveries = deliveries;
                            e.VisibleAt = visible;
                        }
                    }

                    break;
                }

                case Effect.Move:
                {
                    var from = Queue(ids, r.Int());
                    var to = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var id = r.Guid();
                        var position = r.Long();
                        if (from.ById.TryGetValue(id, out var e))
                        {
                            TakeEntry(e, null);
                            if (to.ById.TryGetValue(id, out var there))
                            {
                                TakeEntry(there, null);
                            }

                            PutEntry(to, e.Message, position, e.Deliveries, null, null, e.Own);
                        }
                    }

                    break;
                }

                case Effect.Expiry:
                {
                    var q = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var id = r.Guid();
                        var expires = r.Time();
                        if (q.ById.TryGetValue(id, out var e))
                        {
                            Expire(e, expires);
                        }
                    }

                    break;
                }

                case Effect.Activity:
                    AddActivity(ReadActivity(ref r), null, keepId: true);
                    break;

                case Effect.Prune:
                {
                    var n = r.Int();
                    var gone = new HashSet<long>();
                    for (var i = 0; i < n; i++)
                    {
                        gone.Add(r.Long());
                    }

                    // They were among the oldest when pruned, so they are found near the head.
                    var found = new List<JActivity>(n);
                    foreach (var a in _activity.First(int.MaxValue))
                    {
                        if (found.Count == gone.Count)
                        {
                            break;
                        }

                        if (gone.Contains(a.Entry.Id))
                        {
                            found.Add(a);
                        }
                    }

                    foreach (var a in found)
                    {
                        RemoveActivity(a);
                    }

                    break;
                }

                case Effect.Seen:
                {
                    var tenant = TenantId.Parse(r.String());
                    var client = ClientId.Parse(r.String());
                    var first = r.Time();
                    Seen(tenant, client, first, r.Time());
                    break;
                }

                case Effect.Retain:
                    Retain(ReadRetained(ref r, withProperties: false));
                    break;
                case Effect.RetainWithProperties:
                    Retain(ReadRetained(ref r, withProperties: true));
                    break;

                case Effect.ClearRetained:
                {
                    var tenant = TenantId.Parse(r.String());
                    ClearRetained(tenant, r.String());
                    break;
                }

                case Effect.SaveSession:
                    SaveSession(ReadSession(ref r, withAwaiting: false));
                    break;

                case Effect.Session:
                {
                    var s = ReadSession(ref r, withAwaiting: true);
                    _sessions[(s.Tenant.Value, s.Client.Value)] = s;
                    break;
                }

                case Effect.DeleteSession:
                {
                    var tenant = TenantId.Parse(r.String());
                    DropSessionRecord(tenant, ClientId.Parse(r.String()));
                    break;
                }

                case Effect.PutRecord:
                {
                    var tenant = TenantId.Parse(r.String());
                    var kind = (RecordKind)r.Byte();
                    var key = r.String();
                    PutRecord(new StoredRecord(tenant, kind, key, r.Bytes()));
                    break;
                }

                case Effect.DeleteRecord:
                {
                    var tenant = TenantId.Parse(r.String());
                    var kind = (RecordKind)r.Byte();
                    DeleteRecord(tenant, kind, r.String());
                    break;
                }

                case Effect.SessionRelease or Effect.SessionComplete:
                {
                    var tenant = TenantId.Parse(r.String());
                    var client = ClientId.Parse(r.String());
                    SessionRelease(tenant, client, checked((ushort)r.Varint()), release: effect == Effect.SessionRelease);
                    break;
                }

                case Effect.QueueHigh:
                {
                    var q = Queue(ids, r.Int());
                    q.LastPosition = Math.Max(q.LastPosition, r.Long());
                    break;
                }

                case Effect.ActivityHigh:
                    _activityIds = Math.Max(_activityIds, r.Long());
                    break;

                case Effect.Message:
                {
                    var letter = ReadLetter(ref r);
                    messages[(letter.Tenant, letter.Id)] = new JMessage(letter);
                    break;
                }

                case Effect.Entry:
                {
                    var q = Queue(ids, r.Int());
                    var id = r.Guid();
                    var position = r.Long();
                    var deliveries = r.Int();
                    var visible = r.OptionalTime();
                    if (!messages.TryGetValue((q.Key.Tenant, id), out var m))
                    {
                        throw new InvalidDataException($"The journal's snapshot names message {id} before it.");
                    }

                    PutEntry(q, m, position, deliveries, visible, null);
                    break;
                }

                default:
                    throw new InvalidDataException($"The journal holds an effect of unknown kind {(byte)effect}.");
            }
        }
    }

    private static JQueue Queue(Dictionary<int, JQueue> ids, int id) =>
        ids.TryGetValue(id, out var q) ? q : throw new InvalidDataException($"The journal names queue {id} before defining it.");
}
