import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectStore } from '../storage/store.js';
import { openLedger } from './ledger.js';
import type { CostEntry, CostMeter } from './meter.js';

/**
 * Today's spend (UTC day, as `petcut cost report` counts it by default), for
 * the warm-up's budget rule: this instance's own meter, plus the ledger
 * copies the other instances upload to the bucket (cost/ledgers/, every
 * PETCUT_COST_UPLOAD_S), read in the background at most every `refreshMs`.
 * A call never waits: it answers with the copies as last read. The copies
 * lag by up to their upload interval, and instances without cloud storage
 * have none: the figure is then this instance's alone.
 */
export interface SpendToday {
  readonly usd: number;
  /** This instance plus the other instances' ledger copies counted. */
  readonly instances: number;
  /** When the copies were last read (undefined: not yet, or no cloud storage). */
  readonly ledgersReadAt?: Date;
}

export interface DailySpend {
  /** As last read: never waits (starts a read in the background when the copies are older than refreshMs). */
  today(): SpendToday;
  /** Waits for the first read of the copies (at most `firstReadMs`), then as today(). */
  settled(): Promise<SpendToday>;
}

export interface DailySpendOptions {
  readonly meter: CostMeter;
  /** Where the ledger copies are (undefined: this instance's meter only). */
  readonly store?: ObjectStore;
  /** The bucket prefix of the copies. */
  readonly prefix: string;
  readonly refreshMs: number;
  /** How long settled() waits for the first read (default 3 s). */
  readonly firstReadMs?: number;
  readonly log: (message: string, error?: unknown) => void;
  readonly now?: () => number;
}

const DAY_MS = 86_400_000;
const dayOf = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
const totalOf = (meter: CostMeter): number => { const { usd } = meter.totals(); return usd.vcpu + usd.memory + usd.gpu + usd.requests; };

export function createDailySpend(options: DailySpendOptions): DailySpend {
  const now = options.now ?? Date.now;
  const ownKey = `${options.prefix}${options.meter.instance}.sqlite`;
  // The meter counts from start-up: at the first look after midnight its total becomes the new day's base.
  let day = dayOf(now());
  let base = 0;
  let others: { usd: number; instances: number; at: number; day: number } | undefined;
  let reading: Promise<void> | undefined;
  let failing = false;
  let attemptedAt = -Infinity;

  const refresh = async (store: ObjectStore, from: number): Promise<void> => {
    const scratch = mkdtempSync(join(tmpdir(), 'petcut-spend-'));
    try {
      let usd = 0;
      let instances = 0;
      for (const info of await store.list(options.prefix)) {
        if (info.key === ownKey || !info.key.endsWith('.sqlite')) continue;
        const object = await store.get(info.key);
        if (!object) continue;
        const file = join(scratch, `${instances}.sqlite`);
        writeFileSync(file, object.data);
        const ledger = openLedger(file, { readonly: true });
        try {
          usd += spendIn(ledger.read(from, now()), from, now());
        } finally {
          ledger.close();
        }
        instances += 1;
      }
      others = { usd, instances, at: now(), day: from };
      failing = false;
    } catch (error) {
      if (!failing) options.log('the other instances\' cost ledger copies could not be read: the warm-up budget counts this instance\'s spend (and the copies as last read)', error);
      failing = true;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  };

  const today = (): SpendToday => {
    const t = now();
    const total = totalOf(options.meter);
    if (dayOf(t) !== day) {
      day = dayOf(t);
      base = total;
    }
    const { store } = options;
    // A failed read is retried after refreshMs too (a broken bucket must not be listed at every call).
    if (store && !reading && (t - attemptedAt >= options.refreshMs || (others !== undefined && others.day !== day))) {
      attemptedAt = t;
      reading = refresh(store, day).finally(() => (reading = undefined));
    }
    const counted = others?.day === day ? others : undefined;
    return { usd: total - base + (counted?.usd ?? 0), instances: 1 + (counted?.instances ?? 0), ...(others ? { ledgersReadAt: new Date(others.at) } : {}) };
  };
  return {
    today,
    async settled() {
      const first = today();
      if (others || !reading) return first;
      const waited = new Promise<void>((resolve) => setTimeout(resolve, options.firstReadMs ?? 3000).unref());
      await Promise.race([reading, waited]);
      return today();
    },
  };
}

/** Spend in [from, to]: work and fee entries by when they ended; idle entries prorated by their overlap. */
export function spendIn(entries: readonly CostEntry[], from: number, to: number): number {
  let usd = 0;
  for (const entry of entries) {
    const parts = entry.usd.vcpu + entry.usd.memory + entry.usd.gpu + entry.usd.requests;
    if (entry.kind !== 'idle') {
      if (entry.endedAt > from && entry.endedAt <= to) usd += parts;
      continue;
    }
    const length = entry.endedAt - entry.startedAt;
    const overlap = Math.min(entry.endedAt, to) - Math.max(entry.startedAt, from);
    if (length <= 0) usd += entry.endedAt > from && entry.endedAt <= to ? parts : 0;
    else if (overlap > 0) usd += parts * (overlap / length);
  }
  return usd;
}
