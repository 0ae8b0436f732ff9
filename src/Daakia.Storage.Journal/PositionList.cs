namespace Daakia.Storage.Journal;

/// <summary>Something a <see cref="PositionList{T}"/> orders: a position that only grows, and a removed mark.</summary>
internal interface IPositioned
{
    long Position { get; }

    bool Removed { get; set; }
}

/// <summary>
/// Items in increasing position order, appended at the end, removed anywhere by marking them (the caller sets
/// <see cref="IPositioned.Removed"/>, then calls <see cref="Removed"/>). Marked items are dropped lazily: the head
/// advances past them and the list is rebuilt once most of it is marked, so every operation is amortised O(1) but the
/// seek (O(log n)). Queues are mostly acknowledged from the front, which keeps the rebuilds rare.
/// </summary>
internal sealed class PositionList<T> where T : class, IPositioned
{
    private List<T> _items = [];
    private int _head;

    /// <summary>Items not removed.</summary>
    public int Count { get; private set; }

    public long LastPosition => _items.Count > 0 ? _items[^1].Position : 0;

    public void Add(T item)
    {
        if (_items.Count > 0 && item.Position <= _items[^1].Position)
        {
            Insert(item);
            return;
        }

        _items.Add(item);
        Count++;
    }

    /// <summary>Puts an item back at its position (an undone removal, or an entry that moved in before the end).</summary>
    public void Insert(T item)
    {
        var i = Seek(item.Position - 1);
        if (i < _items.Count && ReferenceEquals(_items[i], item))
        {
            // Still here, only marked: unmark.
        }
        else
        {
            _items.Insert(i, item);
        }

        item.Removed = false; // (the seek starts at the head, so the head never moves back)
        Count++;
    }

    /// <summary>The caller marked <paramref name="item"/> removed.</summary>
    public void Removed(T item)
    {
        _ = item;
        Count--;
        while (_head < _items.Count && _items[_head].Removed)
        {
            _head++;
        }

        var span = _items.Count - _head;
        if (_head > 64 && _head > _items.Count / 2 || span > 64 && Count < span / 4)
        {
            Compact();
        }
    }

    private void Compact()
    {
        var live = new List<T>(Math.Max(16, Count * 2));
        for (var i = _head; i < _items.Count; i++)
        {
            if (!_items[i].Removed)
            {
                live.Add(_items[i]);
            }
        }

        _items = live;
        _head = 0;
    }

    /// <summary>Index of the first item (removed or not) with a position above <paramref name="position"/>.</summary>
    private int Seek(long position)
    {
        int lo = _head, hi = _items.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_items[mid].Position <= position)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>Live items with a position above <paramref name="position"/>, in order.</summary>
    public IEnumerable<T> After(long position)
    {
        for (var i = Seek(position); i < _items.Count; i++)
        {
            if (!_items[i].Removed)
            {
                yield return _items[i];
            }
        }
    }

    /// <summary>The last live items, newest first, at most <paramref name="limit"/>.</summary>
    public IEnumerable<T> Last(int limit)
    {
        var n = 0;
        for (var i = _items.Count - 1; i >= _head && n < limit; i--)
        {
            if (!_items[i].Removed)
            {
                n++;
                yield return _items[i];
            }
        }
    }

    /// <summary>The first live items, in order, at most <paramref name="limit"/>.</summary>
    public IEnumerable<T> First(int limit)
    {
        var n = 0;
        for (var i = _head; i < _items.Count && n < limit; i++)
        {
            if (!_items[i].Removed)
            {
                n++;
                yield return _items[i];
            }
        }
    }
}
