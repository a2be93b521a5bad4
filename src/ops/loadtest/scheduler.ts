// Open-model arrivals: when each request of a stream is sent, decided before the
// run from the rate alone, so a slow server shows up as latency and 503s, never as
// a lower request rate (the coordinated-omission trap of closed-loop clients).
import type { Stream } from './profiles.js';

import { seededRandom } from '../../random.js';

/** Seeded (src/random.ts), so a run's arrival times can be replayed. */
export { seededRandom };

/**
 * Arrival offsets in ms from the run's start. constant: one every 1/rate s,
 * the first at start_s. poisson: exponential gaps of mean 1/rate (-ln U / rate).
 */
export function arrivals(stream: Pick<Stream, 'rate' | 'duration_s' | 'start_s' | 'arrival'>, random: () => number): number[] {
  const start = stream.start_s * 1000;
  const end = start + stream.duration_s * 1000;
  const gap = 1000 / stream.rate;
  const times: number[] = [];
  if (stream.arrival === 'constant') {
    for (let t = start; t < end - 1e-9; t += gap) times.push(t);
    return times;
  }
  for (let t = start - Math.log(1 - random()) * gap; t < end; t -= Math.log(1 - random()) * gap) times.push(t);
  return times;
}

/** Picks a mix entry by weight. */
export function pickByWeight<T extends { weight: number }>(mix: readonly T[], random: () => number): T {
  const total = mix.reduce((sum, entry) => sum + entry.weight, 0);
  let left = random() * total;
  for (const entry of mix) {
    left -= entry.weight;
    if (left < 0) return entry;
  }
  return mix[mix.length - 1]!;
}

export interface Dispatcher {
  readonly done: Promise<void>;
  /** ms each arrival went out after its scheduled time (the generator's own lag). */
  readonly lagsMs: number[];
  stop(): void;
}

/**
 * Fires `send(i)` at each arrival offset (sorted, ms after `t0`), not awaiting it:
 * a timer wakes at the next due time and sends everything due (a late wake-up sends
 * the backlog at once, keeping the count right; the lag is recorded).
 */
export function dispatch(times: readonly number[], t0: number, send: (index: number) => void): Dispatcher {
  const lagsMs: number[] = [];
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const tick = (): void => {
    const now = performance.now() - t0;
    while (next < times.length && times[next]! <= now) {
      lagsMs.push(now - times[next]!);
      send(next++);
    }
    if (next >= times.length) return finish();
    timer = setTimeout(tick, Math.max(0, times[next]! - (performance.now() - t0)));
  };
  tick();
  return { done, lagsMs, stop: () => { clearTimeout(timer); next = times.length; finish(); } };
}
