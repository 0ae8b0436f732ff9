namespace Daakia.Core.Tests;

// The engine's delivery tests, once per store: a synchronous store hides every race a late, out-of-order one shows.
// (Several tiny types in one file on purpose: each only names its store.)

public sealed class LetterTestsOnMemoryStore : LetterTests
{
    protected override bool OnChaosStore => false;
}

public sealed class LetterTestsOnChaosStore : LetterTests
{
    protected override bool OnChaosStore => true;
}

public sealed class DeliveryModeTestsOnMemoryStore : DeliveryModeTests
{
    protected override bool OnChaosStore => false;
}

public sealed class DeliveryModeTestsOnChaosStore : DeliveryModeTests
{
    protected override bool OnChaosStore => true;
}

public sealed class TimerTestsOnMemoryStore : TimerTests
{
    protected override bool OnChaosStore => false;
}

public sealed class TimerTestsOnChaosStore : TimerTests
{
    protected override bool OnChaosStore => true;
}

public sealed class QueueDeliveryTestsOnMemoryStore : QueueDeliveryTests
{
    protected override bool OnChaosStore => false;
}

public sealed class QueueDeliveryTestsOnChaosStore : QueueDeliveryTests
{
    protected override bool OnChaosStore => true;
}
