using System.Reflection;
using System.Runtime.ExceptionServices;
using Daakia.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// The host's own store with a hand on ack writes: every call goes through unchanged (so the store's order is
/// kept), but while <see cref="Hold"/> is in force an ack's delete does not complete until <see cref="Release"/>. A
/// proxy rather than a hand-written decorator, so members added to the store seam pass through without edits here.
/// </summary>
public class TextoAckStore : DispatchProxy
{
    private IDaakiaStore _inner = null!;
    private TaskCompletionSource? _hold;
    private Exception? _failure;
    private int _deletes;
    private int _deletedIds;

    /// <summary><see cref="IQueueStore.DeleteAsync"/> calls so far.</summary>
    public int Deletes => Volatile.Read(ref _deletes);

    /// <summary>Message ids those calls carried.</summary>
    public int DeletedIds => Volatile.Read(ref _deletedIds);

    /// <summary>Replaces the host's store with a held one; <paramref name="store"/> is set when the host builds it.</summary>
    public static void Install(WebApplicationBuilder builder, Action<TextoAckStore> store)
    {
        var registered = builder.Services.Last(d => d.ServiceType == typeof(IDaakiaStore));
        builder.Services.AddSingleton(sp =>
        {
            var inner = registered.ImplementationInstance as IDaakiaStore ?? (IDaakiaStore)registered.ImplementationFactory!(sp);
            var proxy = Create<IDaakiaStore, TextoAckStore>();
            var held = (TextoAckStore)(object)proxy;
            held._inner = inner;
            store(held);
            return proxy;
        });
    }

    /// <summary>From now on, ack writes complete only at <see cref="Release"/>.</summary>
    public void Hold() => Volatile.Write(ref _hold, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Lets every held ack write (and later ones) complete.</summary>
    public void Release() => Interlocked.Exchange(ref _hold, null)?.TrySetResult();

    /// <summary>From now on, ack writes fail with <paramref name="failure"/> (after the write itself ran).</summary>
    public void Fail(Exception failure) => Volatile.Write(ref _failure, failure);

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        object? result;
        try
        {
            result = targetMethod!.Invoke(_inner, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(ex.InnerException);
            throw;
        }

        if (targetMethod.Name == nameof(IQueueStore.DeleteAsync))
        {
            Interlocked.Increment(ref _deletes);
            Interlocked.Add(ref _deletedIds, ((IReadOnlyList<Guid>)args![1]!).Count);
#pragma warning disable CA2012 // A proxy can only return the ValueTask boxed; the store's caller awaits it once.
            return HeldAsync((ValueTask<int>)result!);
#pragma warning restore CA2012
        }

        return result;
    }

    private async ValueTask<int> HeldAsync(ValueTask<int> write)
    {
        var removed = await write;
        if (Volatile.Read(ref _hold) is { } hold)
        {
            await hold.Task;
        }

        if (Volatile.Read(ref _failure) is { } failure)
        {
            throw failure;
        }

        return removed;
    }
}
