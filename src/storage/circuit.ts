import { isPetcutError, PetcutError } from '../errors.js';
import type { ObjectStore } from './store.js';

/**
 * A circuit breaker in front of the store (plan section 8, risk 4: graceful
 * degradation). A call that fails with PETCUT_E_STORAGE_UNAVAILABLE (the
 * adapters' code for an unreachable, timed-out or full backend), confirmed
 * by a ping that fails too, opens it (a failed ping opens it at once; a
 * one-off failure whose ping succeeds leaves it closed, so one bad write does
 * not turn new work away): from then on every call but `ping` fails at once with the same code and a
 * Retry-After, instead of each request waiting out the SDK's timeouts and
 * retries against a backend that is down. One background ping every
 * `reprobeMs` (never more than one in flight) closes it again, as does any
 * ping that succeeds (/health's: an operator who sees storage back need not
 * wait for the next tick; /health is called at a monitor's pace). Answers that
 * need no storage (cut-outs already in the memory cache) go on being served
 * meanwhile; the service refuses new model work while it is open.
 *
 * Other failures (a missing object, a bad key) say nothing about
 * reachability and leave the circuit as it is.
 */
export interface StorageState {
  readonly up: boolean;
  /** When the store last went down or came back (the process start until then). */
  readonly since: Date;
  /** The coded message of the failure that opened the circuit (never the library's text: that is in the log). */
  readonly error?: string;
  /** Background pings since the circuit opened. */
  readonly probes: number;
}

export interface StorageHealth {
  up(): boolean;
  state(): StorageState;
  /** Throws the coded 503 (with Retry-After) while storage is down; a no-op while it is up. */
  require(): void;
  /** Seconds a client should wait before retrying while storage is down. */
  readonly retryAfterS: number;
  /** Stops the background probe (the app's close). */
  close(): void;
}

export interface CircuitOptions {
  /** Between background pings while down (default 5 s: recovers within seconds, at most 12 pings a minute). */
  readonly reprobeMs?: number;
  /** Told when the state changes (the app logs it). */
  readonly onChange?: (up: boolean, cause?: unknown) => void;
  /** The least Retry-After a refusal carries (the service's PETCUT_RETRY_AFTER_S); at least the re-probe interval. */
  readonly retryAfterS?: number;
}

export const REPROBE_MS = 5000;

export function circuitStore(store: ObjectStore, options: CircuitOptions = {}): { store: ObjectStore; health: StorageHealth } {
  const reprobeMs = options.reprobeMs ?? REPROBE_MS;
  const retryAfterS = Math.max(1, options.retryAfterS ?? 0, Math.ceil(reprobeMs / 1000));
  let up = true;
  let since = new Date();
  let error: string | undefined;
  let probes = 0;
  let timer: NodeJS.Timeout | undefined;
  let probing = false;
  let confirming = false;

  const change = (next: boolean, cause?: unknown): void => {
    if (next === up) return;
    up = next;
    since = new Date();
    error = next ? undefined : isPetcutError(cause) ? cause.message : 'Storage is not reachable.';
    options.onChange?.(next, cause);
  };
  const close = (): void => {
    clearInterval(timer);
    timer = undefined;
    change(true);
  };
  const probe = async (): Promise<void> => {
    if (probing) return;
    probing = true;
    probes++;
    try {
      await store.ping();
      close();
    } catch {
      // Still down: the next tick tries again.
    } finally {
      probing = false;
    }
  };
  const open = (cause: unknown): void => {
    if (up) probes = 0;
    change(false, cause);
    timer ??= setInterval(() => void probe(), reprobeMs).unref();
  };
  const trip = (cause: unknown, operation: string): void => {
    if (!isPetcutError(cause) || cause.code !== 'PETCUT_E_STORAGE_UNAVAILABLE' || !up) return;
    if (operation === 'ping') return open(cause);
    // One confirmation at a time; calls meanwhile go to the store as before.
    if (confirming) return;
    confirming = true;
    store.ping().then(() => undefined, () => open(cause)).finally(() => (confirming = false));
  };
  const refusal = (): PetcutError => new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', undefined, { retryAfterS });
  const guarded = <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    if (!up) throw refusal();
    try {
      return await call(...args);
    } catch (failure) {
      trip(failure, operation);
      throw failure;
    }
  };

  const health: StorageHealth = {
    up: () => up,
    state: () => ({ up, since, probes, ...(error ? { error } : {}) }),
    require() {
      if (!up) throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', 'Storage is down: only cut-outs this instance already holds can be served; retry after the time in Retry-After.', { retryAfterS });
    },
    retryAfterS,
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
  // No spread of `store`: a method added to ObjectStore fails to compile here until it is guarded.
  return {
    health,
    store: {
      name: store.name,
      put: guarded('put', store.put.bind(store)),
      get: guarded('get', store.get.bind(store)),
      head: guarded('head', store.head.bind(store)),
      list: guarded('list', store.list.bind(store)),
      delete: guarded('delete', store.delete.bind(store)),
      copy: guarded('copy', store.copy.bind(store)),
      // The ping always reaches the store: it is how the circuit (and /health) sees storage come back.
      async ping() {
        try {
          await store.ping();
        } catch (failure) {
          trip(failure, 'ping');
          throw failure;
        }
        if (!up) close();
      },
      ensureLifecycle: guarded('lifecycle', store.ensureLifecycle.bind(store)),
      ...(store.signedUrl ? { signedUrl: guarded('sign', store.signedUrl.bind(store)) } : {}),
    },
  };
}
