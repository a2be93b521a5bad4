import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { CostEntry, OutputFacts } from './meter.js';
import { makeDirsSync } from '../fsDirs.js';

/**
 * The cost ledger: one SQLite file per instance (better-sqlite3, the only
 * module that imports it). Entries are keyed by `<instance>:<sequence>`, so
 * any instance's file merges into another with INSERT OR IGNORE: merging the
 * same file twice changes nothing. Writes are batched (one transaction per
 * flush, every few seconds), so the request path never waits on the disk.
 *
 * Ledgers written before the per-feature views lack the `route`, `cache`
 * and `outputs` columns: a file opened for writing gets them added (ALTER
 * TABLE, old rows keep NULL), a file opened read-only or merged from is
 * read as it is, its missing columns as NULL ("unknown" in the report).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS cost_entries (
  id TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('work', 'idle', 'requests')),
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  shop TEXT,
  session TEXT,
  images INTEGER NOT NULL DEFAULT 0,
  requests INTEGER NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  vcpu_usd REAL NOT NULL DEFAULT 0,
  memory_usd REAL NOT NULL DEFAULT 0,
  gpu_usd REAL NOT NULL DEFAULT 0,
  requests_usd REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cost_entries_ended_at ON cost_entries (ended_at);
`;
const BASE_COLUMNS = ['id', 'instance', 'kind', 'started_at', 'ended_at', 'shop', 'session', 'images', 'requests', 'seconds', 'vcpu_usd', 'memory_usd', 'gpu_usd', 'requests_usd'];
/** Added with the per-feature views; `outputs` is JSON: [{"effect","format","pixels"}]. */
const FEATURE_COLUMNS = ['route', 'cache', 'outputs'];
const COLUMNS = [...BASE_COLUMNS, ...FEATURE_COLUMNS].join(', ');
/** At most this many outputs of one entry are kept (a request asks for a handful; this bounds a row's size). */
const MAX_OUTPUTS = 32;

type Db = InstanceType<typeof Database>;

/** The columns a schema's cost_entries has. */
function columnsOf(db: Db, schema = 'main'): Set<string> {
  return new Set((db.prepare(`SELECT name FROM pragma_table_info('cost_entries', '${schema}')`).all() as Array<{ name: string }>).map((c) => c.name));
}

/** The select list for a table that may lack the feature columns (an older ledger): those read as NULL. */
function selectList(have: ReadonlySet<string>): string {
  return [...BASE_COLUMNS, ...FEATURE_COLUMNS.map((c) => (have.has(c) ? c : `NULL AS ${c}`))].join(', ');
}

/** Adds the columns an older ledger lacks (its rows keep NULL there). */
function migrate(db: Db): void {
  const have = columnsOf(db);
  for (const column of FEATURE_COLUMNS) if (!have.has(column)) db.exec(`ALTER TABLE cost_entries ADD COLUMN ${column} TEXT`);
}

interface Row {
  id: string; instance: string; kind: CostEntry['kind']; started_at: number; ended_at: number; shop: string | null; session: string | null;
  images: number; requests: number; seconds: number; vcpu_usd: number; memory_usd: number; gpu_usd: number; requests_usd: number;
  route: string | null; cache: string | null; outputs: string | null;
}

export interface Ledger {
  readonly path: string;
  append(entries: readonly CostEntry[]): void;
  /** Entries that overlap (from, to] (ms since the epoch). */
  read(from: number, to: number): CostEntry[];
  /** The whole database as one file's bytes (for uploading a copy). */
  snapshot(): Buffer;
  close(): void;
}

export function openLedger(path: string, options: { readonly?: boolean } = {}): Ledger {
  if (!options.readonly) makeDirsSync(dirname(path));
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  if (!options.readonly) {
    // WAL: the report can read a live instance's file while it writes.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    migrate(db);
  }
  const insert = options.readonly ? undefined : db.prepare(`INSERT OR IGNORE INTO cost_entries (${COLUMNS}) VALUES (${COLUMNS.split(', ').map((c) => `@${c}`).join(', ')})`);
  const appendAll = db.transaction((rows: readonly Row[]) => rows.forEach((row) => insert!.run(row)));
  const select = db.prepare(`SELECT ${selectList(columnsOf(db))} FROM cost_entries WHERE ended_at > ? AND started_at <= ? ORDER BY ended_at`);
  return {
    path,
    append(entries) {
      if (!insert) throw new Error(`ledger ${path} is open read-only`);
      if (entries.length > 0) appendAll(entries.map(toRow));
    },
    read: (from, to) => (select.all(from, to) as Row[]).map(fromRow),
    snapshot: () => db.serialize(),
    close: () => void db.close(),
  };
}

/** Copies every entry of the sources into the target (created if missing); returns how many were new. */
export function mergeLedgers(target: string, sources: readonly string[]): { added: number; seen: number } {
  const into = openLedger(target);
  into.close();
  const db = new Database(target);
  try {
    let added = 0;
    let seen = 0;
    for (const source of sources) {
      db.prepare('ATTACH DATABASE ? AS source').run(source);
      try {
        seen += (db.prepare('SELECT count(*) AS n FROM source.cost_entries').get() as { n: number }).n;
        added += db.prepare(`INSERT OR IGNORE INTO main.cost_entries (${COLUMNS}) SELECT ${selectList(columnsOf(db, 'source'))} FROM source.cost_entries`).run().changes;
      } finally {
        db.prepare('DETACH DATABASE source').run();
      }
    }
    return { added, seen };
  } finally {
    db.close();
  }
}

const toRow = (e: CostEntry): Row => ({
  id: e.id, instance: e.instance, kind: e.kind, started_at: Math.round(e.startedAt), ended_at: Math.round(e.endedAt), shop: e.shop ?? null, session: e.session ?? null,
  images: e.images, requests: e.requests, seconds: e.seconds, vcpu_usd: e.usd.vcpu, memory_usd: e.usd.memory, gpu_usd: e.usd.gpu, requests_usd: e.usd.requests,
  route: e.route ?? null, cache: e.cache ?? null, outputs: e.outputs ? JSON.stringify(e.outputs.slice(0, MAX_OUTPUTS)) : null,
});

const fromRow = (r: Row): CostEntry => ({
  id: r.id, instance: r.instance, kind: r.kind, startedAt: r.started_at, endedAt: r.ended_at, ...(r.shop !== null ? { shop: r.shop } : {}), ...(r.session !== null ? { session: r.session } : {}),
  images: r.images, requests: r.requests, seconds: r.seconds, usd: { vcpu: r.vcpu_usd, memory: r.memory_usd, gpu: r.gpu_usd, requests: r.requests_usd },
  ...(r.route !== null ? { route: r.route } : {}),
  ...(r.cache === 'hit' || r.cache === 'cutout' || r.cache === 'miss' ? { cache: r.cache } : {}),
  ...(r.outputs !== null ? { outputs: parseOutputs(r.outputs) } : {}),
});

/** A row's outputs; a damaged value reads as none rather than failing the whole report. */
function parseOutputs(text: string): OutputFacts[] {
  try {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((o): o is OutputFacts => typeof o === 'object' && o !== null && typeof (o as OutputFacts).effect === 'string'
      && typeof (o as OutputFacts).format === 'string' && Number.isFinite((o as OutputFacts).pixels));
  } catch {
    return [];
  }
}

/**
 * The meter's sink onto a ledger: a failed write (disk full, file removed)
 * keeps its entries for the next flush, up to a bound, and is reported once
 * per outage rather than every few seconds.
 */
export function ledgerSink(ledger: Ledger, report: (error: unknown) => void, maxHeld = 100_000): (entries: readonly CostEntry[]) => void {
  let held: CostEntry[] = [];
  let failing = false;
  return (entries) => {
    held.push(...entries);
    try {
      ledger.append(held);
      held = [];
      failing = false;
    } catch (error) {
      if (!failing) report(error);
      failing = true;
      // Memory stays bounded while the disk is broken: the oldest entries go first.
      if (held.length > maxHeld) held = held.slice(held.length - maxHeld);
    }
  };
}
