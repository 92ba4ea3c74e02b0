import type { Redis } from 'ioredis';

/**
 * Closes an ioredis connection without hanging: QUIT when it is connected (pending replies
 * arrive first), a hard disconnect when it is not — a QUIT queued while Redis is down would
 * wait for a reconnect that may never come — or when QUIT takes longer than `timeoutMs`.
 */
export async function closeRedis(redis: Redis, timeoutMs = 1000): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      redis.disconnect();
      resolve();
    }, timeoutMs);
  });
  await Promise.race([
    redis.quit().then(
      () => undefined,
      () => redis.disconnect(),
    ),
    timeout,
  ]);
  clearTimeout(timer);
}
