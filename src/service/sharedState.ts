import { EventEmitter } from 'node:events';

/**
 * State that several instances share (Redis when REDIS_URL is set): job
 * records with an expiry, and messages on channels. One small interface so
 * the service holds the logic and the adapter (./redisSharedState.ts) only
 * talks to Redis. Every call may fail (Redis away): callers degrade to this
 * instance's memory, never fail a request of their own for it.
 */
export interface SharedState {
  /** false from a failed call until the connection is ready again (the adapter logs the outage once). */
  up(): boolean;
  /** Writes `value` under `key` with an expiry and publishes `message` on `channel`, in one round trip. */
  put(key: string, value: string, ttlMs: number, channel: string, message: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the channel is subscribed (messages published after that arrive); returns the unsubscribe. */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => void>;
  /** Called once each time an outage begins (a follower of another instance's job hears nothing more then); returns the removal. */
  onDown(listener: () => void): () => void;
  /** Commands sent so far (a pipeline counts once): the benchmark's round trips. */
  roundTrips(): number;
  close(): Promise<void>;
}

/** Every key and channel starts with this, so a shared Redis can be inspected and cleaned. */
export const SHARED_PREFIX = 'petcut:jobs:';

/**
 * Messages for a name (a session's legacy progress socket): delivered to
 * this instance's listeners at once, and through the shared state to the
 * other instances' (each message names its sender, which skips its own
 * copy). Without shared state, or while it is away, it is this instance's
 * EventEmitter, as before.
 */
export interface ProgressBus {
  publish(name: string, message: unknown): void;
  /** Resolves once listening everywhere it can (shared state unreachable: locally only). */
  subscribe(name: string, listener: (message: unknown) => void): Promise<() => void>;
}

export function createProgressBus(shared: SharedState | undefined, instanceId: string, prefix: string): ProgressBus {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  return {
    publish(name, message) {
      local.emit(name, message);
      if (shared?.up()) shared.publish(prefix + name, JSON.stringify({ from: instanceId, message })).catch(() => undefined);
    },
    async subscribe(name, listener) {
      local.on(name, listener);
      let remote = (): void => undefined;
      if (shared?.up()) {
        remote = await shared.subscribe(prefix + name, (raw) => {
          const parsed = parse<{ from: string; message: unknown }>(raw);
          if (parsed && parsed.from !== instanceId) listener(parsed.message);
        }).catch(() => remote);
      }
      return () => {
        local.off(name, listener);
        remote();
      };
    },
  };
}

export function parse<T>(raw: string): T | undefined {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}
