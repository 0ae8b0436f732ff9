namespace Daakia.Core;

/// <summary>
/// The rules for <see cref="DaakiaCoreOptions"/> (section <c>Daakia:Core</c>), one line each. A new option gets its
/// line here and its range in docs/configuration.md.
/// </summary>
public static class DaakiaCoreOptionsValidator
{
    private const int MiB = 1024 * 1024;

    public static void Validate(DaakiaCoreOptions o, OptionsValidation v)
    {
        v.Between(o.MaxPayloadBytes, 1, 64 * MiB);
        v.Between(o.MaxRecipients, 1, 10_000);
        v.Between(o.MaxConnectionsPerClient, 1, 10_000);
        v.Between(o.MaxConnectionsPerTenant, 1, 10_000_000);
        v.Between(o.MaxSubscriptionsPerConnection, 1, 100_000);
        v.Between(o.MaxRetainedPerTenant, 0, 10_000_000);
        v.Between(o.MaxRetainedBytesPerTenant, 0, 64L * 1024 * MiB);
        v.Between(o.MaxSessionsPerTenant, 0, 10_000_000);
        v.Between(o.MaxSessionQueuedMessages, 1, 10_000_000);
        v.Between(o.MaxSessionQueuedBytes, 1024, 64L * 1024 * MiB);
        v.Between(o.MaxTopicLength, 1, 65_535);
        v.Between(o.MaxTopicLevels, 1, 1024);
        v.Between(o.MaxInflightPerConnection, 1, 65_536);
        v.Between(o.InboxPageSize, 1, 10_000);
        v.Require(o.MaxInflightPerConnection <= 2L * o.InboxPageSize, nameof(o.MaxInflightPerConnection), $"be at most 2 × {v.Key(nameof(o.InboxPageSize))} = {2L * o.InboxPageSize}",
            o.MaxInflightPerConnection, "an online client holds no more of its letters in memory, so a larger window never fills", v.Key(nameof(o.InboxPageSize)));

        // Heartbeats: 0 would close every connection at the first scan; the JSON API accepts at most a day.
        v.Between(o.MinHeartbeat, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1));
        v.Between(o.MaxHeartbeat, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1));
        v.NotAbove(o.MinHeartbeat, o.DefaultHeartbeat);
        v.NotAbove(o.DefaultHeartbeat, o.MaxHeartbeat);
        v.Between(o.MissedHeartbeats, 1, 100);

        // Timer periods: 0 makes a timer fire once and never again; the scan must see the shortest heartbeat in time.
        v.Between(o.HeartbeatCheckInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1));
        v.NotAbove(o.HeartbeatCheckInterval, o.MinHeartbeat);
        v.Between(o.ExpirySweepInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1));
        v.Require(o.SysInterval == TimeSpan.Zero || (o.SysInterval >= TimeSpan.FromMilliseconds(100) && o.SysInterval <= TimeSpan.FromDays(1)),
            nameof(o.SysInterval), "be 00:00:00 (off) or between 00:00:00.1 and 1.00:00:00", o.SysInterval);
        v.Between(o.MaxTtl, TimeSpan.FromSeconds(1), TimeSpan.FromDays(3650));

        // Byte bounds of what one client and one connection hold in memory, and of uncommitted writes server-wide.
        v.Between(o.MaxInflightBytesPerConnection, 1024L, 1024L * MiB);
        v.Between(o.MaxWindowBytesPerClient, 1024L, 4096L * MiB);
        v.NotAbove(o.MaxInflightBytesPerConnection, o.MaxWindowBytesPerClient);
        v.Between(o.MaxPendingWriteBytes, 64L * 1024, 64L * 1024 * MiB);
        v.Between(o.MaxPendingWrites, 1, 10_000_000);
        v.Between(o.InboxLoadRetryMax, TimeSpan.FromMilliseconds(50), TimeSpan.FromHours(1));
        v.Between(o.MaxReadPageBytes, 1024L, 1024L * MiB);

        // Stored-data quotas and the default TTL (0: letters without a TTL are kept until acknowledged).
        v.Between(o.MaxInboxLetters, 1L, 1_000_000_000L);
        v.Between(o.MaxInboxBytes, 1024L, 1024L * 1024 * MiB);
        v.Between(o.MaxTenantStoredBytes, 1024L, 1024L * 1024 * 1024 * MiB);
        v.NotAbove(o.MaxInboxBytes, o.MaxTenantStoredBytes);
        v.Between(o.DefaultLetterTtl, TimeSpan.Zero, TimeSpan.FromDays(3650));

        // Named queues (Zaqar's): its minimums are a minute for a TTL and a claim.
        v.Between(o.MaxQueuesPerTenant, 0, 10_000_000);
        v.Between(o.MaxQueueMetadataBytes, 2, 16 * MiB);
        v.Between(o.MaxQueuePostBytes, 1024, 64 * MiB);
        v.Between(o.MaxMessagesPerPost, 1, 100_000);
        v.Between(o.MaxQueueMessagesPerPage, 1, 10_000);
        v.Between(o.MaxMessagesPerClaim, 1, 10_000);
        v.Between(o.MaxQueueMessageTtl, TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650));
        v.Between(o.DefaultQueueMessageTtl, TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650));
        v.NotAbove(o.DefaultQueueMessageTtl, o.MaxQueueMessageTtl);
        v.Between(o.MaxQueueMessageDelay, TimeSpan.Zero, TimeSpan.FromDays(365));
        v.Between(o.MaxClaimTtl, TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));
        v.Between(o.MaxClaimGrace, TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));
        v.Between(o.MaxQueueMessages, 1L, 1_000_000_000L);
        v.Between(o.MaxTenantQueueMessages, 1L, 100_000_000_000L);
        v.Between(o.MaxQueueWait, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        v.Between(o.QueueIdempotencyWindow, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        v.Between(o.MaxIdempotencyKeysPerQueue, 1, 10_000_000);
        v.Between(o.MaxIdempotencyBytesPerQueue, 1024L, 64L * 1024 * MiB);
        var largestKey = IdempotencyKeys.SizeOf(new string('k', 128), o.MaxMessagesPerPost);
        v.Require(o.MaxIdempotencyBytesPerQueue >= largestKey, nameof(o.MaxIdempotencyBytesPerQueue), $"be at least {largestKey}",
            o.MaxIdempotencyBytesPerQueue, $"room for one key of a full post ({v.Key(nameof(o.MaxMessagesPerPost))} = {o.MaxMessagesPerPost})",
            dependsOn: v.Key(nameof(o.MaxMessagesPerPost)));
        v.Between(o.MaxQueueBytes, 1024L, 1024L * 1024 * MiB);
        v.Between(o.MaxBindingsPerQueue, 0, 10_000);
        v.NotAbove(o.DefaultLetterTtl, o.MaxTtl);

        // Queue subscriptions and their notification outboxes (an outbox is one of the store's queues: it stays within a
        // queue's quota, so a full outbox drops a notification instead of failing the post).
        v.Between(o.MaxSubscriptionsPerQueue, 0, 100_000);
        v.Between(o.MaxSubscriptionOptionsBytes, 2, 16 * MiB);
        v.Between(o.MaxSubscriberLength, 16, 64 * 1024);
        v.Between(o.MaxSubscriptionTtl, TimeSpan.FromMinutes(1), TimeSpan.FromDays(36_500));
        v.Between(o.DefaultSubscriptionTtl, TimeSpan.FromMinutes(1), TimeSpan.FromDays(36_500));
        v.NotAbove(o.DefaultSubscriptionTtl, o.MaxSubscriptionTtl);
        v.Between(o.MaxPendingNotifications, 1L, 1_000_000_000L);
        v.NotAbove(o.MaxPendingNotifications, o.MaxQueueMessages);
        v.Between(o.MaxPendingNotificationBytes, 1024L, 1024L * 1024 * MiB);
        v.NotAbove(o.MaxPendingNotificationBytes, o.MaxQueueBytes);
        v.Between(o.MaxTenantPendingNotificationBytes, 1024L, 1024L * 1024 * 1024 * MiB);
        v.NotAbove(o.MaxTenantPendingNotificationBytes, o.MaxTenantStoredBytes);
        v.Between(o.NotificationConcurrency, 1, 1024);
        v.Between(o.MaxNotificationsInFlight, 1, 100_000);

        // Activity log retention (pruned by the sweep timer, at most once a minute).
        v.Between(o.ActivityRetention, TimeSpan.FromMinutes(1), TimeSpan.FromDays(36_500));
        v.Between(o.MaxActivityEntries, 1000L, 10_000_000_000L);
        v.Between(o.ActivityStreamInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        v.Between(o.MaxActivityStreams, 1, 100_000);
        v.Between(o.MaxPendingActivityEntries, 100, 10_000_000);
        v.Between(o.MaxPendingActivityBytes, 64L * 1024, 4L * 1024 * 1024 * 1024);

        // Delivery attempts before dead-lettering (0: unlimited), lease timeout (0: none), delays.
        v.Between(o.MaxDeliveries, 0, 1_000_000);
        v.Between(o.LeaseTimeout, TimeSpan.Zero, TimeSpan.FromDays(1));
        v.Between(o.MaxDelay, TimeSpan.FromSeconds(1), TimeSpan.FromDays(365));

        // Letter headers: counted and bounded in bytes (they travel with every copy of the letter).
        v.Between(o.MaxHeadersPerLetter, 0, 1024);
        v.Between(o.MaxHeaderBytes, 0, MiB);

        // Services, workers and tasks (docs/tasks-design.md): tasks are held in memory, bounded by count and bytes.
        v.Between(o.MaxServicesPerTenant, 0, 1_000_000);
        v.Between(o.MaxServicesPerWorker, 1, 10_000);
        v.Between(o.MaxWorkerCapacity, 1, 1_000_000);
        v.Between(o.MaxTaskPayloadBytes, 1, 64 * MiB);
        v.Between(o.MaxTaskResultBytes, 0, 64 * MiB);
        v.Between(o.MaxOpenTasksPerTenant, 0, 10_000_000);
        v.Between(o.MaxTenantTaskBytes, 1024L, 1024L * 1024 * MiB);
        v.Between(o.MaxTaskPriorityLevel, 0, 255);
        v.Between(o.TaskMaxAttempts, 1, 1000);
        v.Between(o.MaxTaskTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromDays(365));
        v.Between(o.DefaultTaskTimeout, TimeSpan.Zero, TimeSpan.FromDays(365));
        v.NotAbove(o.DefaultTaskTimeout, o.MaxTaskTimeout);
        v.Between(o.TaskCancelGrace, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1));
        v.Between(o.FinishedTaskRetention, TimeSpan.FromSeconds(1), TimeSpan.FromDays(3650));
        v.Between(o.MaxFinishedTasksPerTenant, 1, 10_000_000);
        v.Between(o.TaskCheckInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10));

        v.Between(o.RouteCacheSize, 0, 1_000_000);
        v.Between(o.QuotaCacheSize, 1, 1_000_000);
        v.Between(o.MaxStatusTextLength, 0, 10_000);
        v.Between(o.MaxPageSize, 1, 10_000);
    }
}
