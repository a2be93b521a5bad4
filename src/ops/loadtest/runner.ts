// One load test: probe the target, measure the generator, run the profile's
// streams (open model) and users (closed loop per shopper), print a progress line
// a second, and hand back every sample with the run's own facts.
import { spawn } from 'node:child_process';
import { runScenario } from './client.js';
import type { ClientOptions } from './client.js';
import { photoSource } from './photos.js';
import type { Profile } from './profiles.js';
import type { ScenarioName } from './scenarios.js';
import { arrivals, dispatch, pickByWeight, seededRandom } from './scheduler.js';
import { isServiceError, percentile } from './stats.js';
import type { Sample } from './stats.js';

export class TargetUnreachableError extends Error {
  override readonly name = 'TargetUnreachableError';
}

export interface RunOptions {
  base: string;
  headers: Record<string, string>;
  photos: readonly Buffer[];
  timeoutMs: number;
  seed: number;
  coldCommand?: string;
  /** Seconds of /healthz flooding to measure what the generator can send (0: skip). */
  probeSeconds: number;
  progress: (line: string) => void;
}

export interface StreamFacts { name: string; intendedRps: number; scheduled: number; sent: number; achievedRps: number }

export interface RunResult {
  samples: Sample[];
  startedAt: string;
  wallS: number;
  streams: StreamFacts[];
  generator: { probeRps: number; cpuShareOfOneCore: number; lagMs: { p50: number; p99: number; max: number } };
  coldCommand?: { command: string; exitCode: number | null; ms: number };
}

export async function checkReachable(base: string, headers: Record<string, string>): Promise<void> {
  try {
    await fetch(new URL('/healthz', base), { headers, signal: AbortSignal.timeout(10_000) }).then((r) => r.arrayBuffer());
  } catch (error) {
    throw new TargetUnreachableError(`cannot reach ${base}/healthz: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`);
  }
}

async function waitReady(base: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    const status = await fetch(new URL('/readyz', base), { headers }).then(async (r) => (await r.arrayBuffer(), r.status)).catch(() => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Requests/s the generator gets out of /healthz with 32 requests in flight: its ceiling on this machine. */
async function probeGenerator(base: string, headers: Record<string, string>, seconds: number): Promise<number> {
  if (seconds <= 0) return 0;
  const end = performance.now() + seconds * 1000;
  let count = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (performance.now() < end) {
      await fetch(new URL('/healthz', base), { headers }).then((r) => r.arrayBuffer()).catch(() => undefined);
      count++;
    }
  }));
  return Math.round(count / seconds);
}

function runCold(command: string): Promise<{ command: string; exitCode: number | null; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve({ command, exitCode, ms: Math.round(performance.now() - start) }));
  });
}

export async function runLoad(profile: Profile, options: RunOptions): Promise<RunResult> {
  await checkReachable(options.base, options.headers);
  // A warm profile measures a ready instance; the cold one is about the wait, so it does not wait.
  if (!profile.cold) await waitReady(options.base, options.headers, options.timeoutMs);
  const probeRps = await probeGenerator(options.base, options.headers, options.probeSeconds);
  const coldCommand = options.coldCommand ? await runCold(options.coldCommand) : undefined;
  const random = seededRandom(options.seed);
  const samples: Sample[] = [];
  let sent = 0;
  let finished = 0;
  const t0 = performance.now();
  const client: ClientOptions = {
    base: options.base, headers: options.headers, timeoutMs: options.timeoutMs, effect: profile.effect, t0,
    nextPhoto: photoSource(options.photos, profile.cache_hits, random), record: (sample) => samples.push(sample),
  };
  let coldPending = profile.cold;
  const inFlight = new Set<Promise<void>>();
  const start = (scenario: ScenarioName): Promise<void> => {
    const cold = coldPending;
    coldPending = false;
    sent++;
    const work = runScenario(client, scenario, cold).finally(() => { finished++; inFlight.delete(work); });
    inFlight.add(work);
    return work;
  };
  const cpu = process.cpuUsage();
  const ticker = setInterval(() => options.progress(progressLine(samples, sent, finished, t0)), 1000);
  const streams = profile.streams.map((stream) => {
    const times = arrivals(stream, random);
    let count = 0;
    const dispatcher = dispatch(times, t0, () => { count++; void start(pickByWeight(stream.mix, random).scenario); });
    return { stream, times, dispatcher, sent: () => count };
  });
  const users = profile.users ? runUsers(profile.users, t0, start) : Promise.resolve();
  await Promise.all([...streams.map((s) => s.dispatcher.done), users]);
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  clearInterval(ticker);
  const wallS = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  options.progress(progressLine(samples, sent, finished, t0));
  const lags = streams.flatMap((s) => s.dispatcher.lagsMs).sort((a, b) => a - b);
  const round = (v: number): number => (Number.isNaN(v) ? 0 : Math.round(v * 10) / 10);
  return {
    samples, startedAt: new Date(Date.now() - wallS * 1000).toISOString(), wallS: round(wallS), coldCommand,
    streams: streams.map(({ stream, times, sent: count }) => {
      // Achieved: sends over the span the stream was scheduled for (first arrival to its window's end).
      const span = stream.duration_s;
      return { name: stream.name, intendedRps: round(stream.rate), scheduled: times.length, sent: count(), achievedRps: round(count() / span) };
    }),
    generator: { probeRps, cpuShareOfOneCore: Math.round(((used.user + used.system) / 1000 / (wallS * 1000)) * 1000) / 1000, lagMs: { p50: round(percentile(lags, 50)), p99: round(percentile(lags, 99)), max: round(lags[lags.length - 1] ?? 0) } },
  };
}

async function runUsers(users: NonNullable<Profile['users']>, t0: number, start: (scenario: ScenarioName) => Promise<void>): Promise<void> {
  const end = t0 + (users.ramp_s + users.duration_s) * 1000;
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  await Promise.all(Array.from({ length: users.count }, async (_, index) => {
    await sleep((users.ramp_s * 1000 * index) / users.count);
    while (performance.now() < end) {
      for (const step of users.flow) await start(step);
      await sleep(users.think_s * 1000);
    }
  }));
}

/** sent, done, in flight, P95 of the answered uploads so far, 503s. */
function progressLine(samples: readonly Sample[], sent: number, finished: number, t0: number): string {
  const primary = samples.filter((s) => !s.step);
  const ms = primary.filter((s) => s.status >= 200 && s.status < 400).map((s) => s.ms).sort((a, b) => a - b);
  const p95 = ms.length ? `${Math.round(percentile(ms, 95))} ms` : '-';
  const overloaded = primary.filter((s) => s.status === 503).length;
  const errors = primary.filter((s) => isServiceError(s.status)).length;
  return `loadtest ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s: sent ${sent}, done ${finished}, in flight ${sent - finished}, p95 ${p95}, 503s ${overloaded}, errors ${errors}`;
}
