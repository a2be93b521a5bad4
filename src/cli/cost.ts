import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { loadCostConfig } from '../cost/config.js';
import { mergeLedgers, openLedger } from '../cost/ledger.js';
import type { CostEntry } from '../cost/meter.js';
import { loadPrices } from '../cost/prices.js';
import { buildReport, formatReport } from '../cost/report.js';
import type { ReportSchedule } from '../cost/report.js';
import { DEFAULT_SCHEDULE_FILE, loadSchedule, segments } from '../scaling/schedule.js';

/**
 * `petcut cost report` and `petcut cost merge`: the spend from the cost
 * ledgers (one SQLite file per instance), over any time window. Wrong
 * arguments or files exit with status 2 and say which.
 */
export interface ReportFlags {
  from?: string;
  to?: string;
  ledger?: string[];
  top?: string;
  json?: boolean;
  prices?: string;
  by?: string;
  /** Also read the ledger copies instances uploaded to the configured bucket. */
  store?: boolean;
  /** The scaling schedule whose windows split peak from off-peak (default: PETCUT_SCALING_SCHEDULE, else deploy/scaling/schedule.yml). */
  schedule?: string;
}

class UsageError extends Error {}

const DAY_MS = 86_400_000;

/** A date (whole day, UTC) or a date-time; `end` moves a bare date to the end of its day. */
export function parseWhen(text: string, flag: string, end: boolean): number {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms = Date.parse(dateOnly ? `${text}T00:00:00Z` : text);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: not a date: "${text}" (use 2026-11-28 or 2026-11-28T18:00:00-05:00)`);
  return dateOnly && end ? ms + DAY_MS : ms;
}

/** The ledger files: given files, the .sqlite files of given folders, or those of the configured ledger's folder. */
function ledgerFiles(given: readonly string[] | undefined): string[] {
  const paths = given?.length ? given : [defaultLedgerFolder()];
  const files = paths.flatMap((path) => {
    if (!existsSync(path)) throw new UsageError(`no ledger at ${path}`);
    return statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.sqlite')).map((f) => join(path, f)) : [path];
  });
  if (files.length === 0) throw new UsageError(`no ledger files (*.sqlite) in ${paths.join(', ')}`);
  return files;
}

/** Where the service writes its ledgers, by the same settings it reads. */
function defaultLedgerFolder(): string {
  const { ledger } = loadCostConfig(process.env, resolve(process.env.PETCUT_DATA_DIR ?? './data'));
  if (!ledger) throw new UsageError('PETCUT_COST_LEDGER=off: name the ledger files with --ledger');
  return ledger.includes('{instance}') ? dirname(ledger) : ledger;
}

function readLedger(path: string, from: number, to: number): CostEntry[] {
  let ledger;
  try {
    ledger = openLedger(path, { readonly: true });
  } catch (error) {
    throw new UsageError(`${path}: not a petcut cost ledger (${(error as Error).message})`);
  }
  try {
    return ledger.read(from, to);
  } catch (error) {
    throw new UsageError(`${path}: not a petcut cost ledger (${(error as Error).message})`);
  } finally {
    ledger.close();
  }
}

/** Downloads the instances' ledger copies from the configured storage into a folder; returns the files. */
async function pullLedgers(into: string): Promise<string[]> {
  const { loadServiceConfig } = await import('../config.js');
  const { createStore } = await import('../storage/index.js');
  const { LEDGER_PREFIX } = await import('../cost/index.js');
  const store = createStore(loadServiceConfig().storage);
  const files: string[] = [];
  for (const info of await store.list(LEDGER_PREFIX)) {
    const object = await store.get(info.key);
    if (!object) continue;
    const file = join(into, basename(info.key));
    writeFileSync(file, object.data);
    files.push(file);
  }
  if (files.length === 0) throw new UsageError(`no ledger copies under ${LEDGER_PREFIX} in the configured storage`);
  return files;
}

/** The schedule's windows over (from, to], by the file the service reads (a bad file: exit 2, naming the file and field). */
function reportSchedule(path: string | undefined, from: number, to: number): ReportSchedule {
  const env = process.env.PETCUT_SCALING_SCHEDULE;
  const schedule = loadSchedule(path ? resolve(path) : env ? resolve(env) : DEFAULT_SCHEDULE_FILE);
  return { source: schedule.source, timeZone: schedule.timeZone, segments: segments(schedule, new Date(from), new Date(to)) };
}

export async function costReport(flags: ReportFlags, out: (text: string) => void): Promise<void> {
  const to = flags.to ? parseWhen(flags.to, '--to', true) : Date.now();
  const from = flags.from ? parseWhen(flags.from, '--from', false) : Math.floor(to / DAY_MS) * DAY_MS;
  if (to <= from) throw new UsageError('--to must be after --from');
  const top = flags.top === undefined ? 10 : Number(flags.top);
  if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top: a whole number of at least 1, not "${flags.top}"`);
  const by = flags.by ?? 'shop';
  if (by !== 'shop' && by !== 'session') throw new UsageError(`--by: shop or session, not "${by}"`);
  const prices = loadPrices(flags.prices ?? process.env.PETCUT_COST_PRICES);
  const schedule = reportSchedule(flags.schedule, from, to);
  const scratch = flags.store ? mkdtempSync(join(tmpdir(), 'petcut-ledgers-')) : undefined;
  try {
    const files = [...(flags.ledger?.length || !scratch ? ledgerFiles(flags.ledger) : []), ...(scratch ? await pullLedgers(scratch) : [])];
    // The same entry can be in several files (a local ledger and its uploaded copy, a merged file): counted once.
    const entries = [...new Map(files.flatMap((file) => readLedger(file, from, to)).map((entry) => [entry.id, entry])).values()];
    const report = buildReport(entries, { from, to }, prices, by, schedule);
    out(flags.json ? `${JSON.stringify({ ...report, customers: report.customers.slice(0, top) }, null, 2)}\n` : formatReport(report, top));
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

export function costMerge(into: string, sources: readonly string[], out: (text: string) => void): void {
  const files = ledgerFiles(sources).filter((file) => resolve(file) !== resolve(into));
  for (const file of files) readLedger(file, 0, 1);
  const { added, seen } = mergeLedgers(into, files);
  out(`${basename(into)}: added ${added} of ${seen} entries from ${files.length} ledger${files.length === 1 ? '' : 's'}\n`);
}

/** Runs a cost command; usage and file errors exit with status 2. */
export async function runCostCommand(command: () => void | Promise<void>, log: (line: string) => void): Promise<void> {
  try {
    await command();
  } catch (error) {
    if (!(error instanceof UsageError) && !(error as { code?: string }).code?.startsWith('PETCUT_E_')) throw error;
    log(`petcut cost: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}
