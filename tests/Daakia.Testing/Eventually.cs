namespace Daakia.Testing;

/// <summary>Polls a condition until it holds or a deadline passes: tests never sleep a fixed time.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public static async Task True(Func<bool> condition, string because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        var delay = 1;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met within {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s: {because}");
            }

            await Task.Delay(delay);
            delay = Math.Min(delay * 2, 50);
        }
    }

    public static async Task True(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        var delay = 1;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met within {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s: {because}");
            }

            await Task.Delay(delay);
            delay = Math.Min(delay * 2, 50);
        }
    }
}
