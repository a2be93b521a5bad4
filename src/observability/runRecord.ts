import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeDirsSync } from '../fsDirs.js';

/**
 * The previous run's fate, where it can be known: a small file in the data
 * directory says this process is running, and its exit path rewrites it with
 * the exit code and the uptime. The next process on the same disk (a
 * container restarted in place, Docker's restart policy, a VM) reads it at
 * start: "exited" (with its code) or "no exit recorded" (killed: out of
 * memory, SIGKILL). A Cloud Run instance starts on a fresh disk, so there it
 * says nothing: the logs' `process exit` lines are the trail there.
 */
export interface RunRecord {
  readonly pid: number;
  readonly revision?: string;
  readonly startedAt: string;
  readonly state: 'running' | 'exited';
  readonly code?: number;
  readonly uptimeS?: number;
}

export type PreviousRun = RunRecord & { readonly fate: 'exited' | 'no exit recorded' };

export const RUN_RECORD_FILE = '.petcut-run.json';

/** Reads the previous record (if any), writes this run's; `exited(code)` is to be called from the exit path (synchronous). */
export function recordRun(dataDir: string, revision?: string): { previous?: PreviousRun; exited(code: number): void } {
  const path = join(dataDir, RUN_RECORD_FILE);
  const previous = readRecord(path);
  const current: RunRecord = { pid: process.pid, ...(revision ? { revision } : {}), startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(), state: 'running' };
  write(path, current);
  return {
    ...(previous ? { previous: { ...previous, fate: previous.state === 'exited' ? 'exited' : 'no exit recorded' } } : {}),
    exited: (code) => write(path, { ...current, state: 'exited', code, uptimeS: Math.round(process.uptime()) }),
  };
}

function readRecord(path: string): RunRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunRecord>;
    return typeof parsed.pid === 'number' && (parsed.state === 'running' || parsed.state === 'exited') && typeof parsed.startedAt === 'string' ? parsed as RunRecord : undefined;
  } catch {
    return undefined;
  }
}

/** Best effort: a read-only or full disk must not stop the service (the logs still have the trail). */
function write(path: string, record: RunRecord): void {
  try {
    makeDirsSync(dirname(path));
    writeFileSync(path, `${JSON.stringify(record)}\n`);
  } catch {
    // nothing to do
  }
}
