import type { FastifyInstance } from 'fastify';
import type { Jobs } from '../service/jobs.js';
import type { Processing } from '../service/processing.js';

/**
 * Graceful shutdown that fits Cloud Run's 10 s between SIGTERM and SIGKILL.
 * The listener stays open while the instance drains, so clients get answers
 * instead of refused connections: /readyz and new work 503 (Retry-After),
 * uploads being read and work not started yet 503 at once (their clients
 * retry on another instance), work already in a worker finishes. At the
 * drain deadline whatever still runs is answered 503 too; then the server,
 * the limiter, the ledger and the engine close, in that order.
 */
export interface ShutdownParts {
  readonly app: FastifyInstance;
  readonly processing: Processing;
  readonly jobs: Jobs;
  /** Milliseconds from the start of shutdown to the end of closing. */
  readonly timeoutMs: number;
  /** Starts refusing: sets the draining flag and aborts the reads of uploads in flight. */
  refuseNewWork(): void;
  /** Requests still being answered (the server's own count). */
  inFlight(): number;
  /** Closes what comes after the server: timers, the limiter, the GPU probe, the engine; false when the engine could not stop cleanly. */
  closeRest(): Promise<boolean>;
}

/**
 * Kept for closing after the drain: answers to abandoned requests, the
 * ledger's last write, and the engine, whose workers must be idle before
 * they stop (a model run cannot be interrupted: about 1 s on two cores, up
 * to 3 s on a loaded machine).
 */
export const CLOSE_MARGIN_MS = 3000;
/** How long answers to abandoned requests may take to go out before connections are closed. */
const ANSWER_GRACE_MS = 500;
/** Connections still open this long before the deadline are cut, leaving the engine its time to stop. */
const CONNECTIONS_BY_MS = 1000;

export function createShutdown(parts: ShutdownParts): () => Promise<{ clean: boolean }> {
  let closing: Promise<{ clean: boolean }> | undefined;
  return () => (closing ??= (async () => {
    const started = Date.now();
    parts.refuseNewWork();
    parts.processing.beginDrain();
    const drained = Promise.all([parts.jobs.drain(), parts.processing.drain()]);
    const drainMs = Math.max(0, parts.timeoutMs - CLOSE_MARGIN_MS);
    if (!(await within(drained, drainMs))) {
      parts.processing.abandon();
      await within(drained, ANSWER_GRACE_MS);
    }
    // Answers being written (a cut-out's bytes) go out before the connections close.
    const answersBy = Date.now() + ANSWER_GRACE_MS;
    while (parts.inFlight() > 0 && Date.now() < answersBy) await delay(20);
    parts.app.log.info({ drainedMs: Date.now() - started, unanswered: parts.inFlight() }, 'drained: closing');
    await closeServer(parts.app, started + parts.timeoutMs - CONNECTIONS_BY_MS);
    const clean = await parts.closeRest();
    if (!clean) parts.app.log.error('the engine was still running native code at the deadline');
    return { clean };
  })());
}

/**
 * Closes the listener and its connections. `close()` reaps the connections
 * idle at that moment only: one whose answer goes out later (a cut-out taken
 * back after the drain deadline) would stay open as keep-alive and hold the
 * close for the keep-alive timeout (72 s). Those are reaped as they turn
 * idle, and whatever is still open at `by` is cut.
 */
async function closeServer(app: FastifyInstance, by: number): Promise<void> {
  const reaper = setInterval(() => app.server.closeIdleConnections(), 25);
  const cut = setTimeout(() => app.server.closeAllConnections(), Math.max(0, by - Date.now()));
  try {
    await app.close();
  } finally {
    clearInterval(reaper);
    clearTimeout(cut);
  }
}

async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
