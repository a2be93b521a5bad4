import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { WorkOrigin } from '../observability/work.js';

/**
 * The cost meter: the instance's price per second accrues from start-up to
 * shutdown, split between the work in flight at each moment (n photos in
 * flight: each carries 1/n of the cost), or booked as idle when nothing runs.
 * Every piece of work becomes one ledger entry charged to its shop and
 * session; idle time becomes idle entries (shared out by the report). All
 * arithmetic happens at events (work begins/ends, a scrape, a flush): the
 * meter costs nothing per second.
 */
export const COST_KINDS = ['vcpu', 'memory', 'gpu', 'requests'] as const;
export type CostKind = (typeof COST_KINDS)[number];
export type CostParts = Record<CostKind, number>;

export interface CostEntry {
  /** `<instance>:<sequence>`: unique across instances, so merging ledgers never counts an entry twice. */
  readonly id: string;
  readonly instance: string;
  /** work: one photo processed; idle: instance time with no work in flight; requests: request fees. */
  readonly kind: 'work' | 'idle' | 'requests';
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly shop?: string;
  readonly session?: string;
  readonly images: number;
  readonly requests: number;
  /** Instance seconds charged to this entry (a share of busy time, or idle time). */
  readonly seconds: number;
  readonly usd: Readonly<CostParts>;
  /** work: the HTTP route pattern that asked (absent in ledgers older than the per-feature views). */
  readonly route?: string;
  /** work: the cache's answer (a hit costs milliseconds, a miss a model run). */
  readonly cache?: 'hit' | 'cutout' | 'miss';
  /** work: each output (style, format, pixels), when the work succeeded. */
  readonly outputs?: readonly OutputFacts[];
}

/** One output of a piece of work, as the cost report's per-feature views read it. */
export interface OutputFacts {
  readonly effect: string;
  readonly format: string;
  readonly pixels: number;
}

/** What a piece of work produced, told when it ends. */
export interface WorkFacts {
  readonly cache?: CostEntry['cache'];
  readonly outputs?: readonly OutputFacts[];
}

/** What the instance costs per second, by kind (read at every accrual: a GPU may be detected late). */
export type CostRates = Readonly<Record<'vcpu' | 'memory' | 'gpu', number>>;

export interface CostMeterOptions {
  readonly rates: () => CostRates;
  /** instance: the whole lifetime is billed; request: only time with work in flight. */
  readonly billing: 'instance' | 'request';
  /** USD per HTTP request (request-based billing's fee; 0 otherwise). */
  readonly requestFee: number;
  /** Where entries go (the SQLite ledger); none keeps only the totals. */
  readonly sink?: (entries: readonly CostEntry[]) => void;
  /** Milliseconds since the epoch (tests move it). */
  readonly now?: () => number;
  /** An idle stretch is written as an entry at the first flush this long after it began (bounds what a crash loses). */
  readonly idleEntryMs?: number;
  /** Request fees are written as entries at the first flush this long after the last ones (default: a minute). */
  readonly feeEntryMs?: number;
  readonly instance?: string;
  /** Distinct shops kept as metric labels; the rest are counted as "other". */
  readonly maxShops?: number;
}

export interface CostTicket {
  /** The work is over; `images` photos came out of it (0 when it failed), with what it produced. */
  end(images: number, facts?: WorkFacts): void;
}

export interface CostTotals {
  readonly usd: Readonly<CostParts>;
  readonly idleUsd: Readonly<CostParts>;
  readonly busySeconds: number;
  readonly idleSeconds: number;
  /** Cost charged to each shop (busy share + request fees; idle is shared out by the report). */
  readonly byShop: ReadonlyMap<string, number>;
}

export interface CostMeter {
  readonly instance: string;
  begin(origin?: WorkOrigin): CostTicket;
  /**
   * One HTTP request answered (its fee, under request-based billing). The
   * session gets a row of its own only if it had work processed in the same
   * window; otherwise the fee is booked to the shop alone (see the bound below).
   */
  request(origin?: Pick<WorkOrigin, 'shop' | 'session'>): void;
  /** Brings the accrual up to now and returns the running totals. */
  totals(): CostTotals;
  /** Writes what has accrued so far to the sink. */
  flush(): void;
  /** Ends the accrual (shutdown): everything up to now is written. */
  close(): void;
}

const zero = (): CostParts => ({ vcpu: 0, memory: 0, gpu: 0, requests: 0 });
const NO_SHOP = 'none';
/** Distinct (shop, session) fee counters held in one window; more fold into their shop's counter. */
const MAX_FEE_KEYS = 1000;

interface Work {
  readonly origin?: WorkOrigin;
  readonly startedAt: number;
  readonly usd: CostParts;
  seconds: number;
}

export function instanceId(): string {
  return `${hostname()}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function createCostMeter(options: CostMeterOptions): CostMeter {
  const now = options.now ?? Date.now;
  const instance = options.instance ?? instanceId();
  const idleEntryMs = options.idleEntryMs ?? 60_000;
  const feeEntryMs = options.feeEntryMs ?? 60_000;
  const maxShops = options.maxShops ?? 50;
  let last = now();
  let sequence = 0;
  let closed = false;
  const active = new Set<Work>();
  let idle = { since: last, usd: zero(), seconds: 0 };
  const totals = { usd: zero(), idleUsd: zero(), busySeconds: 0, idleSeconds: 0, byShop: new Map<string, number>() };
  const pending: CostEntry[] = [];
  /*
   * The ledger's size is bounded by design, whatever the requests: per fee
   * window (a minute) at most one idle row, one fee row per shop label (at
   * most maxShops + 2) and one per session that had work processed in that
   * window, plus one row per photo processed. Requests alone (probes, 401s,
   * 429s, made-up session ids) never add a row per session: they fold into
   * their shop's row.
   */
  const fees = new Map<string, { shop?: string; session?: string; since: number; count: number }>();
  let feesSince = last;
  const worked = new Set<string>();
  const shopLabel = (shop: string | undefined): string | undefined =>
    shop === undefined || totals.byShop.has(shop) || totals.byShop.size < maxShops ? shop : 'other';

  const entry = (fields: Omit<CostEntry, 'id' | 'instance'>): void => void pending.push({ id: `${instance}:${++sequence}`, instance, ...fields });
  const charge = (shop: string | undefined, usd: number): void => {
    const label = shopLabel(shop) ?? NO_SHOP;
    totals.byShop.set(label, (totals.byShop.get(label) ?? 0) + usd);
  };

  /** Accrues the time since the last event to the work in flight, or to idle. */
  const advance = (): number => {
    const t = now();
    const seconds = (t - last) / 1000;
    if (closed || seconds <= 0) return Math.max(t, last);
    last = t;
    if (active.size === 0) {
      idle.seconds += seconds;
      totals.idleSeconds += seconds;
    } else {
      totals.busySeconds += seconds;
    }
    // Request-based billing charges nothing while no request is handled.
    if (active.size === 0 && options.billing === 'request') return t;
    const rates = options.rates();
    const part = { vcpu: rates.vcpu * seconds, memory: rates.memory * seconds, gpu: rates.gpu * seconds };
    for (const kind of ['vcpu', 'memory', 'gpu'] as const) {
      totals.usd[kind] += part[kind];
      if (active.size === 0) {
        idle.usd[kind] += part[kind];
        totals.idleUsd[kind] += part[kind];
      } else {
        for (const work of active) work.usd[kind] += part[kind] / active.size;
      }
    }
    for (const work of active) work.seconds += seconds / active.size;
    return t;
  };

  const closeIdle = (t: number): void => {
    if (idle.seconds > 0) entry({ kind: 'idle', startedAt: idle.since, endedAt: t, images: 0, requests: 0, seconds: idle.seconds, usd: idle.usd });
    idle = { since: t, usd: zero(), seconds: 0 };
  };

  const finish = (work: Work, t: number, images: number, facts: WorkFacts = {}): void => {
    active.delete(work);
    const cost = work.usd.vcpu + work.usd.memory + work.usd.gpu;
    charge(work.origin?.shop, cost);
    entry({
      kind: 'work', startedAt: work.startedAt, endedAt: t, shop: work.origin?.shop, session: work.origin?.session, images, requests: 0, seconds: work.seconds, usd: work.usd,
      ...(work.origin?.route ? { route: work.origin.route } : {}), ...(facts.cache ? { cache: facts.cache } : {}), ...(facts.outputs ? { outputs: facts.outputs } : {}),
    });
    if (active.size === 0) idle = { since: t, usd: zero(), seconds: 0 };
  };

  const writeFees = (t: number): void => {
    const rows = new Map<string, { shop?: string; session?: string; since: number; count: number }>();
    for (const fee of fees.values()) {
      const session = fee.session !== undefined && worked.has(fee.session) ? fee.session : undefined;
      const key = `${fee.shop ?? ''}\u0000${session ?? ''}`;
      const row = rows.get(key) ?? { shop: fee.shop, session, since: fee.since, count: 0 };
      row.count += fee.count;
      row.since = Math.min(row.since, fee.since);
      rows.set(key, row);
    }
    for (const row of rows.values()) {
      entry({ kind: 'requests', startedAt: row.since, endedAt: t, shop: row.shop, session: row.session, images: 0, requests: row.count, seconds: 0, usd: { ...zero(), requests: row.count * options.requestFee } });
    }
    fees.clear();
    worked.clear();
    for (const work of active) if (work.origin?.session) worked.add(work.origin.session);
    feesSince = t;
  };

  return {
    instance,
    begin(origin) {
      const t = advance();
      if (active.size === 0) closeIdle(t);
      const work: Work = { origin, startedAt: t, usd: zero(), seconds: 0 };
      if (!closed) active.add(work);
      if (origin?.session) worked.add(origin.session);
      return {
        end(images, facts) {
          if (!active.has(work)) return;
          finish(work, advance(), images, facts);
        },
      };
    },
    request(origin) {
      if (options.requestFee <= 0 || closed) return;
      totals.usd.requests += options.requestFee;
      charge(origin?.shop, options.requestFee);
      const shop = shopLabel(origin?.shop);
      let key = `${shop ?? ''}\u0000${origin?.session ?? ''}`;
      let session = origin?.session;
      if (!fees.has(key) && fees.size >= MAX_FEE_KEYS) {
        key = `${shop ?? ''}\u0000`;
        session = undefined;
      }
      const fee = fees.get(key) ?? { shop, session, since: now(), count: 0 };
      fee.count += 1;
      fees.set(key, fee);
    },
    totals() {
      advance();
      return { usd: { ...totals.usd }, idleUsd: { ...totals.idleUsd }, busySeconds: totals.busySeconds, idleSeconds: totals.idleSeconds, byShop: new Map(totals.byShop) };
    },
    flush() {
      const t = advance();
      if (active.size === 0 && t - idle.since >= idleEntryMs) closeIdle(t);
      if (t - feesSince >= feeEntryMs) writeFees(t);
      if (pending.length > 0) options.sink?.(pending.splice(0));
    },
    close() {
      if (closed) return;
      const t = advance();
      // Work still in flight at shutdown (drain timed out) is written as it stands, with no image.
      for (const work of [...active]) finish(work, t, 0);
      closeIdle(t);
      writeFees(t);
      closed = true;
      if (pending.length > 0) options.sink?.(pending.splice(0));
    },
  };
}
