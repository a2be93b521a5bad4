import { Redis } from 'ioredis';
import type { SharedState } from './sharedState.js';

export interface RedisSharedStateOptions {
  readonly url: string;
  /** Bounds every command (PETCUT_REDIS_TIMEOUT_MS): Redis must never make a request hang. */
  readonly timeoutMs: number;
  readonly log: { warn(fields: object, message: string): void; info(fields: object, message: string): void };
  /** Each failed call, by operation (put, get, publish, subscribe): petcut_shared_state_errors_total. */
  readonly onError?: (op: string) => void;
}

/**
 * SharedState on Redis: SET PX + PUBLISH in one MULTI per job event, GET for
 * a poll, and one subscriber connection per process for every channel it
 * listens to (reference-counted). Like the rate limiter's store: no offline
 * queue (while disconnected a call fails at once and the caller uses its
 * memory), quick reconnects, and one warning per outage, not per call.
 */
export function createRedisSharedState(options: RedisSharedStateOptions): SharedState {
  const connect = (): Redis => new Redis(options.url, {
    lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0,
    commandTimeout: options.timeoutMs, connectTimeout: Math.max(1000, options.timeoutMs),
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  const client = connect();
  const subscriber = connect();
  let up = true;
  let closed = false;
  let outageStartedAt = 0;
  let trips = 0;
  const downListeners = new Set<() => void>();
  const down = (op: string, error: unknown): void => {
    options.onError?.(op);
    if (!up) return;
    up = false;
    for (const listener of [...downListeners]) listener();
    outageStartedAt = Date.now();
    options.log.warn({ op, reason: error instanceof Error ? error.message : String(error) },
      'shared job state: Redis unavailable, jobs are served by the instance that took them until it answers again');
  };
  client.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  // Up again only once both connections are (the subscriber resubscribes its channels first).
  let everReady = false;
  for (const connection of [client, subscriber]) {
    // A first connection that retries (its ready check timed out while the model loads) is no outage yet.
    connection.on('close', () => { if (up && !closed && everReady) down('connection', new Error('connection closed')); });
    connection.on('ready', () => {
      everReady ||= client.status === 'ready' && subscriber.status === 'ready';
      if (up || client.status !== 'ready' || subscriber.status !== 'ready') return;
      up = true;
      options.log.info({ outageMs: Date.now() - outageStartedAt }, 'shared job state: Redis answers again, new jobs are shared again');
    });
  }
  const firstConnection = Promise.all([client.connect(), subscriber.connect()]).catch((error: unknown) => down('connect', error));

  const call = async <T>(op: string, work: () => Promise<T>): Promise<T> => {
    await firstConnection;
    trips += 1;
    try {
      return await work();
    } catch (error) {
      down(op, error);
      throw error;
    }
  };

  const listeners = new Map<string, Set<(message: string) => void>>();
  subscriber.on('message', (channel: string, message: string) => {
    for (const listener of listeners.get(channel) ?? []) listener(message);
  });

  return {
    up: () => up,
    async put(key, value, ttlMs, channel, message) {
      await call('put', () => client.multi().set(key, value, 'PX', Math.max(1, Math.round(ttlMs))).publish(channel, message).exec());
    },
    get: (key) => call('get', async () => (await client.get(key)) ?? undefined),
    async publish(channel, message) {
      await call('publish', () => client.publish(channel, message));
    },
    async subscribe(channel, listener) {
      let set = listeners.get(channel);
      if (!set) listeners.set(channel, (set = new Set()));
      set.add(listener);
      const release = (): void => {
        if (!set.delete(listener) || set.size > 0) return;
        listeners.delete(channel);
        if (subscriber.status === 'ready') void subscriber.unsubscribe(channel).catch(() => undefined);
      };
      try {
        // Every call subscribes (idempotent in Redis): it resolves once this channel is live.
        await call('subscribe', () => subscriber.subscribe(channel));
      } catch (error) {
        release();
        throw error;
      }
      return release;
    },
    onDown(listener) {
      downListeners.add(listener);
      return () => void downListeners.delete(listener);
    },
    roundTrips: () => trips,
    async close() {
      closed = true;
      // The last writes (a job's final state) go out first, within the command timeout.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, options.timeoutMs)));
      await Promise.race([client.status === 'ready' ? client.quit().catch(() => undefined) : undefined, timeout]).finally(() => clearTimeout(timer));
      client.disconnect();
      subscriber.disconnect();
    },
  };
}
