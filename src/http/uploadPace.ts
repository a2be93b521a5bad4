import type { FastifyRequest } from 'fastify';
import { isPetcutError, PetcutError } from '../errors.js';
import { translateFrameworkError } from './frameworkErrors.js';

/**
 * The slowest an upload may arrive. Room for it was reserved before its body
 * was read, so a body that stalls or trickles holds a slot and buffer bytes
 * that real shoppers need: when the bytes of the last `graceMs` fall below
 * the floor (a stall after a fast start included), the read ends with a 408
 * and the connection is closed after the answer (the rest of the body is not
 * waited for). Shutdown ends every read at once with a 503 (the client
 * retries on another instance).
 */
export interface UploadPace {
  /** Bytes per second over the last `graceMs` (0: no floor). */
  readonly minBytesPerS: number;
  /** The window the rate is measured over; nothing is cut before one window has passed. */
  readonly graceMs: number;
  /** Aborted when the instance starts draining. */
  readonly signal?: AbortSignal;
}

/** Errors after which the connection is closed: the body was not read to its end. */
const unread = new WeakSet<object>();

export function closesConnection(error: unknown): boolean {
  return typeof error === 'object' && error !== null && unread.has(error);
}

/** Marks a refusal given without reading the body that is not worth reading (a declared size over the limit). */
export function leavingBodyUnread<E extends object>(error: E): E {
  unread.add(error);
  return error;
}

const CHECK_MS = 1000;

export function watchUploadPace(request: FastifyRequest, pace: UploadPace | undefined): { guard<T>(work: Promise<T>): Promise<T>; stop(): void } {
  if (!pace) return { guard: (work) => work, stop: () => undefined };
  const socket = request.raw.socket;
  // Byte counts a second apart, over one window: the rate is what the last window brought.
  const samples = [{ t: Date.now(), bytes: socket?.bytesRead ?? 0 }];
  let fail: (error: PetcutError) => void = () => undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    fail = (error) => {
      unread.add(error);
      reject(error);
    };
  });
  failed.catch(() => undefined);
  const timer = pace.minBytesPerS > 0 ? setInterval(() => {
    const now = { t: Date.now(), bytes: socket?.bytesRead ?? 0 };
    samples.push(now);
    while (samples.length > 2 && samples[1]!.t <= now.t - pace.graceMs) samples.shift();
    const oldest = samples[0]!;
    if (now.t - oldest.t < pace.graceMs) return;
    const rate = (now.bytes - oldest.bytes) / ((now.t - oldest.t) / 1000);
    if (rate < pace.minBytesPerS) {
      fail(new PetcutError('PETCUT_E_REQUEST_TIMEOUT', `The upload is arriving too slowly (${(rate / 1024).toFixed(1)} KB/s; at least ${Math.round(pace.minBytesPerS / 1024)} KB/s is needed): check the connection and try again.`));
    }
  }, CHECK_MS) : undefined;
  timer?.unref();
  const onAbort = (): void => fail(new PetcutError('PETCUT_E_SHUTTING_DOWN', undefined, { retryAfterS: 1 }));
  if (pace.signal?.aborted) onAbort();
  else pace.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    guard: (work) => Promise.race([work, failed]),
    stop() {
      if (timer) clearInterval(timer);
      pace.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * What a failed body read means to the client. Everything here is the
 * client's doing or its connection's (a cut-off or malformed form, a part
 * limit, a file over the limit), so it is a coded 4xx, never a 500.
 */
export function bodyError(error: unknown, maxBytes: number): PetcutError {
  if (isPetcutError(error)) return error;
  const framework = error && typeof error === 'object' && 'message' in error ? translateFrameworkError(error as { code?: string; message: string }, maxBytes) : undefined;
  return framework ?? new PetcutError('PETCUT_E_BAD_REQUEST', 'The form data is malformed or was cut off before its end: send the photo again.', { cause: error });
}
