import { warmupPhoto } from '../image/sample.js';
import type { ProcessObserver, WorkOutcome } from '../observability/work.js';
import { scalingAt } from '../scaling/schedule.js';
import type { Schedule } from '../scaling/schedule.js';
import type { EngineHandle } from './engineHandle.js';

/**
 * POST /warmup, the plan's PreWarmingStrategy (section 5): a warm-up runs
 * one tiny real inference on an instance whose model has not run yet, and
 * only when the conditions allow it. In order, each cheap (no I/O):
 *
 * 1. a cut-out was processed here in the last `recentS` seconds: the
 *    instance is warm, nothing to do (`recent_request`);
 * 2. the model already ran here (a warm-up or a cut-out): `already_warm`;
 * 3. a run is in progress: the call waits for it (`joined`, not charged);
 * 4. outside the schedule's pre-warm windows (the shop's business day):
 *    `outside_hours`;
 * 5. today's spend has reached the daily budget: `budget_spent`;
 * 6. the service-wide hourly budget (`charge`, the rate limiter's warm-up
 *    rule) refuses: 429, `refused`;
 * 7. otherwise the model runs: `ran`.
 *
 * Skips answer at once (the caller is a no-cors ping that never reads the
 * answer); only a real run is charged to the hourly budget.
 */
export type WarmupSkip = 'recent_request' | 'outside_hours' | 'budget_spent';
export type WarmupOutcome = 'ran' | 'joined' | 'already_warm' | WarmupSkip | 'refused' | 'failed';
export const WARMUP_OUTCOMES: readonly WarmupOutcome[] = ['ran', 'joined', 'already_warm', 'recent_request', 'outside_hours', 'budget_spent', 'refused', 'failed'];

export interface WarmupResult {
  readonly result: Exclude<WarmupOutcome, 'refused' | 'failed'>;
  /** The model has run on this instance (after this call). */
  readonly warm: boolean;
  /** It had before this call. */
  readonly alreadyWarm: boolean;
  /** This call ran the model (a joined call waited for another's run). */
  readonly ran: boolean;
  readonly skipped?: WarmupSkip;
  readonly ms: number;
}

export interface WarmupSettings {
  /** schedule: only in the schedule's `prewarm: true` windows; always: any time. */
  readonly hours: 'schedule' | 'always';
  /** A cut-out processed this recently (seconds) makes a warm-up unnecessary (0: the rule is off). */
  readonly recentS: number;
  /** Today's spend (USD) at which warm-ups stop (0: the rule is off). */
  readonly budgetUsd: number;
}

/** Today's spend as the warm-up sees it (src/cost/spend.ts). */
export interface SpendToday {
  readonly usd: number;
  /** Instances whose spend is in `usd` (this one, plus the ledger copies read). */
  readonly instances: number;
  /** When the other instances' ledger copies were last read (undefined: never yet). */
  readonly ledgersReadAt?: Date;
}

export interface WarmupDeps {
  readonly engine: EngineHandle;
  readonly settings: WarmupSettings;
  /** Loaded when hours = schedule. */
  readonly schedule?: Schedule;
  readonly clock: () => Date;
  /** Undefined when metering is off (the budget rule then has nothing to read and allows). */
  readonly spend?: SpendSource;
}

export interface SpendSource {
  /** As last read (never waits). */
  now(): SpendToday;
  /** Waits for the first read of the other instances' copies (bounded), then as now(). */
  settled(): Promise<SpendToday>;
}

export interface WarmupView {
  readonly warm: boolean;
  readonly conditions: Record<string, Record<string, unknown>>;
  readonly counts: Readonly<Record<string, number>>;
  readonly last?: { readonly at: string; readonly result: WarmupOutcome; readonly ms: number };
}

export interface Warmup {
  /** `charge` is called right before a model run (the hourly budget); it throws to refuse. */
  run(charge?: () => Promise<void>): Promise<WarmupResult>;
  isWarm(): boolean;
  /** Notes each cut-out processed (the recent-request rule; a cache miss ran the model). */
  readonly observer: ProcessObserver;
  view(): WarmupView;
}

export function createWarmup(deps: WarmupDeps): Warmup {
  const { engine, settings, clock } = deps;
  let running: Promise<void> | undefined;
  let warm = false;
  let lastProcessed: Date | undefined;
  let last: WarmupView['last'];
  const counts = Object.fromEntries(WARMUP_OUTCOMES.map((o) => [o, 0])) as Record<WarmupOutcome, number>;
  const count = (result: WarmupOutcome, started: number): number => {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    counts[result] += 1;
    last = { at: clock().toISOString(), result, ms };
    return ms;
  };
  const once = async (charge: (() => Promise<void>) | undefined): Promise<void> => {
    await charge?.();
    const loaded = await engine.ready;
    await loaded.process(await warmupPhoto(), { outputs: [{ format: 'png' }] });
    warm = true;
  };
  const recentAgeS = (): number | undefined => (lastProcessed ? (clock().getTime() - lastProcessed.getTime()) / 1000 : undefined);
  const recent = (): boolean => { const age = recentAgeS(); return settings.recentS > 0 && age !== undefined && age < settings.recentS; };
  const window = () => (deps.schedule ? scalingAt(deps.schedule, clock()) : undefined);
  const outsideHours = (): boolean => settings.hours === 'schedule' && window()?.prewarm === false;
  const over = (spent: SpendToday | undefined): boolean => settings.budgetUsd > 0 && spent !== undefined && spent.usd >= settings.budgetUsd;
  /** The first condition that says no model run is needed or allowed, if any. */
  const skipOf = async (): Promise<WarmupOutcome | undefined> => {
    if (recent()) return 'recent_request';
    if (warm) return 'already_warm';
    if (running) return 'joined';
    if (outsideHours()) return 'outside_hours';
    // Only a call about to run the model waits for the spend (a fresh instance's first look at the bucket).
    if (settings.budgetUsd > 0 && over(await deps.spend?.settled())) return 'budget_spent';
    return undefined;
  };

  return {
    async run(charge) {
      const started = performance.now();
      const before = warm;
      const skip = await skipOf();
      if (skip && skip !== 'joined') {
        const ms = count(skip, started);
        return { result: skip, warm, alreadyWarm: before, ran: false, ...(skip === 'already_warm' ? {} : { skipped: skip }), ms } as WarmupResult;
      }
      // Decided here, synchronously: calls that passed the checks together share the first one's run.
      const joined = skip === 'joined' || running !== undefined;
      running ??= once(charge).finally(() => (running = undefined));
      try {
        await running;
      } catch (error) {
        count((error as { code?: string }).code === 'PETCUT_E_RATE_LIMITED' ? 'refused' : 'failed', started);
        throw error;
      }
      const result = joined ? 'joined' : 'ran';
      return { result, warm: true, alreadyWarm: false, ran: !joined, ms: count(result, started) };
    },
    isWarm: () => warm,
    observer: {
      done(outcome: WorkOutcome) {
        lastProcessed = clock();
        if (outcome.cache === 'miss') warm = true;
      },
    },
    view() {
      const age = recentAgeS();
      const at = window();
      const spent = deps.spend?.now();
      return {
        warm,
        conditions: {
          businessHours: { rule: settings.hours, ...(at ? { window: at.window, prewarm: at.prewarm, until: at.until.toISOString() } : {}), blocks: outsideHours() },
          recentRequest: { windowS: settings.recentS, lastProcessedAt: lastProcessed?.toISOString() ?? null, ageS: age === undefined ? null : Math.round(age), blocks: recent() },
          budget: {
            dailyUsd: settings.budgetUsd, spentTodayUsd: spent ? Math.round(spent.usd * 1e4) / 1e4 : null, instances: spent?.instances ?? 0,
            ledgersReadAt: spent?.ledgersReadAt?.toISOString() ?? null, blocks: over(spent),
          },
        },
        counts: { ...counts },
        ...(last ? { last } : {}),
      };
    },
  };
}
