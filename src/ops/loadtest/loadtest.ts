// `petcut loadtest <url> --profile <name>`: profile and thresholds in, samples and
// a report out, and the exit code k6 users expect (0 met, 1 a threshold failed).
import { resolve } from 'node:path';
import { loadSloFile, SloFileError } from '../../slo/load.js';
import { DEFAULT_SLO_FILE } from '../../slo/command.js';
import { basePhotos } from './photos.js';
import type { PhotoSize } from './photos.js';
import { DEFAULT_PROFILES_FILE, loadProfile, ProfileFileError, scaleProfile } from './profiles.js';
import { buildReport, writeReport } from './report.js';
import type { Report } from './report.js';
import { runLoad, TargetUnreachableError } from './runner.js';
import { evaluateThresholds } from './thresholds.js';

export const EXIT = { ok: 0, threshold: 1, usage: 2, unreachable: 3 } as const;

export interface LoadtestFlags {
  profile: string;
  profiles?: string;
  slo?: string;
  scale?: string;
  size?: PhotoSize;
  out?: string;
  cold?: string;
  photos?: string;
  header?: string[];
  timeout?: string;
  seed?: string;
  probe?: string;
}

function number(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new ProfileFileError(`--${flag}: must be a number above 0, got "${text}"`);
  return value;
}

/** Headers that carry credentials: argv shows in `ps` and CI logs, so they come from the environment only. */
const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'cookie', 'proxy-authorization']);

/**
 * --header's extra headers, plus the credentials from the environment (as
 * `petcut validate` takes them): PETCUT_LOADTEST_TOKEN (a storefront token,
 * sent as Authorization: Bearer) and PETCUT_LOADTEST_OPERATOR_KEY (X-API-Key).
 */
export function requestHeaders(list: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const extra = Object.fromEntries(list.map((entry) => {
    const at = entry.indexOf(':');
    if (at < 1) throw new ProfileFileError(`--header: must be "Name: value", got "${entry}"`);
    const name = entry.slice(0, at).trim();
    if (SECRET_HEADERS.has(name.toLowerCase())) {
      throw new ProfileFileError(`--header: ${name} carries a credential and the command line is not the place for one (ps, CI logs): set PETCUT_LOADTEST_TOKEN (a storefront token) or PETCUT_LOADTEST_OPERATOR_KEY (an operator key) instead`);
    }
    return [name, entry.slice(at + 1).trim()];
  }));
  return {
    ...extra,
    ...(env.PETCUT_LOADTEST_TOKEN ? { authorization: `Bearer ${env.PETCUT_LOADTEST_TOKEN}` } : {}),
    ...(env.PETCUT_LOADTEST_OPERATOR_KEY ? { 'x-api-key': env.PETCUT_LOADTEST_OPERATOR_KEY } : {}),
  };
}

const stamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');

/** Runs the load test; returns the exit code (EXIT) and the report when there is one. */
export async function runLoadtest(url: string, flags: LoadtestFlags, log: (line: string) => void): Promise<{ exitCode: number; report?: Report; dir?: string }> {
  const profilesFile = flags.profiles ?? DEFAULT_PROFILES_FILE;
  const sloFile = flags.slo ?? DEFAULT_SLO_FILE;
  try {
    const base = new URL(url).toString();
    const scale = number('scale', flags.scale, 1);
    const profile = scaleProfile(await loadProfile(profilesFile, flags.profile), scale);
    const slo = await loadSloFile(sloFile);
    evaluateThresholds(profile, slo, sloFile, []); // names a missing objective before the run, not after it
    const size = flags.size ?? 'preview';
    const photos = await basePhotos(resolve(flags.photos ?? '../shared/fixtures/pets'), size);
    const run = await runLoad(profile, {
      base, headers: requestHeaders(flags.header), photos, timeoutMs: number('timeout', flags.timeout, 120) * 1000, seed: number('seed', flags.seed, Date.now() % 2 ** 31),
      coldCommand: flags.cold, probeSeconds: flags.probe === undefined ? 2 : Number(flags.probe), progress: log,
    });
    const thresholds = evaluateThresholds(profile, slo, sloFile, run.samples.filter((s) => !s.step));
    const arrival = [...new Set(profile.streams.map((s) => s.arrival))].join('+') || 'closed-loop users';
    const report = buildReport({ profile: flags.profile, target: base, scale, size, arrival, profilesFile, sloFile }, run, thresholds);
    const dir = flags.out ?? `out/loadtest/${stamp()}`;
    const files = await writeReport(dir, report, run.samples);
    for (const a of report.arrivals) log(`loadtest: stream ${a.name}: intended ${a.intendedRps}/s, achieved ${a.achievedRps}/s (${a.sent} of ${a.scheduled} sent)`);
    log(`loadtest: generator: ${report.generator.probeRps} req/s possible against /healthz, ${Math.round(report.generator.cpuShareOfOneCore * 100)} % of one core used, send lag P99 ${report.generator.lagMs.p99} ms`);
    for (const t of thresholds) log(`loadtest: ${t.pass ? 'pass' : 'FAIL'} ${t.name}: ${t.value}${t.unit === 'ms' ? ' ms' : ''} (${t.samples} samples)`);
    log(`loadtest: wrote ${files.map((f) => `${dir}/${f}`).join(', ')}`);
    return { exitCode: report.passed ? EXIT.ok : EXIT.threshold, report, dir };
  } catch (error) {
    if (error instanceof TargetUnreachableError) {
      log(`petcut loadtest: ${error.message}`);
      return { exitCode: EXIT.unreachable };
    }
    if (error instanceof ProfileFileError || error instanceof SloFileError || error instanceof TypeError && /Invalid URL/.test(error.message)) {
      log(`petcut loadtest: ${error.message}`);
      return { exitCode: EXIT.usage };
    }
    throw error;
  }
}
