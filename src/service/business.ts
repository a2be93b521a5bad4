import { EFFECTS } from '../effects/registry.js';
import { WIDGET_EVENTS } from '../observability/business.js';
import type { BusinessSnapshot, Rating, RevenueImpact, SatisfactionCounts, VariantResult, WidgetEvent } from '../observability/business.js';
import { assignVariant, widgetDefaults } from './experiment.js';
import type { Experiment } from './experiment.js';
import type { Metrics } from '../observability/metrics.js';

export type { BusinessSnapshot, ExperimentSnapshot, Rating, RevenueImpact, SatisfactionCounts, VariantResult, WidgetEvent } from '../observability/business.js';
export { WIDGET_EVENTS } from '../observability/business.js';

/**
 * The plan's business KPIs, counted by this instance in memory since it
 * started (docs/kpis.md): widget events, satisfaction ratings, the
 * experiment's per-variant conversion, and the revenue impact of the
 * downtime this instance measured. Every count also goes to a Prometheus
 * counter, which is where the numbers of all instances add up.
 */
export interface BusinessConfig {
  readonly experiment?: Experiment;
  /** USD per order (PETCUT_ORDER_VALUE_USD). */
  readonly orderValueUsd?: number;
  /** Expected orders per day (PETCUT_ORDERS_PER_DAY); unset: measured add-to-cart per day. */
  readonly ordersPerDay?: number;
}

/** Where the counts go besides memory (the Prometheus counters). */
export interface BusinessCounters {
  event(event: WidgetEvent, variant: string): void;
  style(effect: string): void;
  rating(rating: Rating, variant: string): void;
  /** stage: a session's first event, its first cut-out shown, its first add-to-cart after one. */
  experimentSession(experiment: string, variant: string, stage: 'session' | 'cutout_shown' | 'add_to_cart'): void;
}

export interface WidgetEventInput {
  readonly event: WidgetEvent;
  readonly sessionId?: string;
  readonly variant?: string;
  readonly effect?: string;
}

export interface Business {
  readonly experiment?: Experiment;
  /** The session's variant (undefined without an experiment or a session). */
  variantOf(sessionId: string | undefined): string | undefined;
  /** GET /v1/widget/config's experiment and defaults. */
  widgetConfig(sessionId: string | undefined): { experiment: { name: string; variant: string } | null; defaults: { effect: string; subjects: string } };
  recordEvent(input: WidgetEventInput): void;
  recordRating(rating: Rating, sessionId: string | undefined, variant: string | undefined): void;
  /** Every answered request (the app's onResponse hook): the SLO's failed share and downtime. */
  recordResponse(route: string | undefined, status: number): void;
  snapshot(): BusinessSnapshot;
}

/** Outside an experiment, or a variant the experiment does not have: one bounded label value. */
export const NO_VARIANT = 'none';
export const OTHER_EFFECT = 'other';
/** The plan: 99 % satisfaction with image quality. */
export const SATISFACTION_TARGET = 0.99;
// The SLO's availability leaves the probes out (deploy/slo/petcut.slo.yml): so does the downtime here.
const NOT_COUNTED = new Set(['/healthz', '/readyz']);
const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;
// A week of per-minute buckets (10 080 pairs of numbers): the weekly review's window.
const WINDOW_MINUTES = 7 * DAY_MINUTES;
// Per-session conversion state, oldest dropped first: 50 000 sessions is a few MB. A dropped session
// that comes back is counted again (documented in docs/kpis.md).
const SESSIONS_HELD = 50_000;

interface SessionState { readonly variant: string; cutout: boolean; cart: boolean }
interface Funnel { sessions: number; sawCutout: number; addedToCart: number }

export function createBusiness(config: BusinessConfig, deps: { counters?: BusinessCounters; clock?: () => Date } = {}): Business {
  const clock = deps.clock ?? (() => new Date());
  const counters = deps.counters;
  const { experiment } = config;
  const since = clock();
  const byEvent = Object.fromEntries(WIDGET_EVENTS.map((event) => [event, 0])) as Record<WidgetEvent, number>;
  const byVariant = new Map<string, Partial<Record<WidgetEvent, number>>>();
  const styles = new Map<string, number>();
  const ratings = new Map<string, { good: number; bad: number }>();
  const sessions = new Map<string, SessionState>();
  const funnels = new Map<string, Funnel>((experiment?.variants ?? []).map((variant) => [variant, { sessions: 0, sawCutout: 0, addedToCart: 0 }]));
  const minutes = new Map<number, { requests: number; failed: number }>();

  const variantOf = (sessionId: string | undefined): string | undefined => (experiment && sessionId ? assignVariant(experiment, sessionId) : undefined);
  /** The server's assignment when the session is known; else the client's word if the experiment has it. */
  const labelOf = (sessionId: string | undefined, claimed: string | undefined): string =>
    variantOf(sessionId) ?? (claimed !== undefined && experiment?.variants.includes(claimed) ? claimed : NO_VARIANT);

  const funnel = (sessionId: string, variant: string, event: WidgetEvent): void => {
    const counts = experiment && funnels.get(variant);
    if (!counts) return;
    let state = sessions.get(sessionId);
    if (!state) {
      if (sessions.size >= SESSIONS_HELD) sessions.delete(sessions.keys().next().value!);
      state = { variant, cutout: false, cart: false };
      sessions.set(sessionId, state);
      counts.sessions++;
      counters?.experimentSession(experiment.name, variant, 'session');
    }
    if (event === 'cutout_shown' && !state.cutout) {
      state.cutout = true;
      counts.sawCutout++;
      counters?.experimentSession(experiment.name, variant, 'cutout_shown');
    } else if (event === 'add_to_cart' && state.cutout && !state.cart) {
      state.cart = true;
      counts.addedToCart++;
      counters?.experimentSession(experiment.name, variant, 'add_to_cart');
    }
  };

  const windowMinutes = (now: number): number => Math.min(WINDOW_MINUTES, Math.max(0, (now - since.getTime()) / MINUTE_MS));

  const revenue = (): RevenueImpact => {
    const now = clock().getTime();
    const oldest = Math.floor(now / MINUTE_MS) - WINDOW_MINUTES;
    let requests = 0;
    let failed = 0;
    let downtimeMinutes = 0;
    for (const [minute, counts] of minutes) {
      if (minute <= oldest) continue;
      requests += counts.requests;
      failed += counts.failed;
      downtimeMinutes += counts.failed / counts.requests;
    }
    const window = windowMinutes(now);
    const measured = window > 0 ? byEvent.add_to_cart / (window / DAY_MINUTES) : undefined;
    const ordersPerDay = config.ordersPerDay ?? (byEvent.add_to_cart > 0 ? measured : undefined) ?? null;
    const lostOrders = ordersPerDay === null ? null : (downtimeMinutes / DAY_MINUTES) * ordersPerDay;
    return {
      orderValueUsd: config.orderValueUsd ?? null,
      ordersPerDay,
      ordersPerDaySource: config.ordersPerDay !== undefined ? 'configured' : ordersPerDay !== null ? 'measured' : 'none',
      windowMinutes: round(window, 2),
      requests, failed, failedShare: requests > 0 ? failed / requests : null,
      downtimeMinutes: round(downtimeMinutes, 4),
      lostOrders,
      lostRevenueUsd: lostOrders !== null && config.orderValueUsd !== undefined ? lostOrders * config.orderValueUsd : null,
    };
  };

  return {
    experiment,
    variantOf,
    widgetConfig(sessionId) {
      const variant = variantOf(sessionId);
      return { experiment: experiment && variant ? { name: experiment.name, variant } : null, defaults: widgetDefaults(experiment, variant) };
    },
    recordEvent({ event, sessionId, variant: claimed, effect }) {
      const variant = labelOf(sessionId, claimed);
      byEvent[event]++;
      const perVariant = byVariant.get(variant) ?? {};
      perVariant[event] = (perVariant[event] ?? 0) + 1;
      byVariant.set(variant, perVariant);
      counters?.event(event, variant);
      if (event === 'style_selected') {
        const style = effect !== undefined && Object.hasOwn(EFFECTS, effect) ? effect : OTHER_EFFECT;
        styles.set(style, (styles.get(style) ?? 0) + 1);
        counters?.style(style);
      }
      if (sessionId) funnel(sessionId, variant, event);
    },
    recordRating(rating, sessionId, claimed) {
      const variant = labelOf(sessionId, claimed);
      const counts = ratings.get(variant) ?? { good: 0, bad: 0 };
      counts[rating]++;
      ratings.set(variant, counts);
      counters?.rating(rating, variant);
    },
    recordResponse(route, status) {
      if (route !== undefined && NOT_COUNTED.has(route)) return;
      const minute = Math.floor(clock().getTime() / MINUTE_MS);
      const counts = minutes.get(minute) ?? { requests: 0, failed: 0 };
      counts.requests++;
      if (status >= 500) counts.failed++;
      if (!minutes.has(minute)) {
        minutes.set(minute, counts);
        for (const old of minutes.keys()) {
          if (old > minute - WINDOW_MINUTES) break;
          minutes.delete(old);
        }
      }
    },
    snapshot() {
      const satisfaction = (counts: { good: number; bad: number }): SatisfactionCounts => ({ ...counts, shareGood: counts.good + counts.bad > 0 ? counts.good / (counts.good + counts.bad) : null });
      const total = [...ratings.values()].reduce((sum, c) => ({ good: sum.good + c.good, bad: sum.bad + c.bad }), { good: 0, bad: 0 });
      const results: VariantResult[] = [...funnels].map(([variant, f]) => ({ variant, ...f, conversion: f.sawCutout > 0 ? f.addedToCart / f.sawCutout : null }));
      return {
        scope: 'instance',
        since: since.toISOString(),
        events: {
          total: Object.values(byEvent).reduce((a, b) => a + b, 0),
          byEvent: { ...byEvent },
          byVariant: Object.fromEntries([...byVariant].map(([variant, counts]) => [variant, { ...counts }])),
          styles: Object.fromEntries(styles),
        },
        satisfaction: { ...satisfaction(total), target: SATISFACTION_TARGET, byVariant: Object.fromEntries([...ratings].map(([variant, counts]) => [variant, satisfaction(counts)])) },
        experiment: experiment ? { name: experiment.name, variants: experiment.variants, results } : null,
        revenue: revenue(),
      };
    },
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** The Prometheus counters behind BusinessCounters (observability/metrics.ts). */
export function businessCounters(metrics: Pick<Metrics, 'widgetEvents' | 'widgetStyles' | 'satisfactionRatings' | 'experimentSessions'>): BusinessCounters {
  return {
    event: (event, variant) => metrics.widgetEvents.inc({ event, variant }),
    style: (effect) => metrics.widgetStyles.inc({ effect }),
    rating: (rating, variant) => metrics.satisfactionRatings.inc({ rating, variant }),
    experimentSession: (experiment, variant, stage) => metrics.experimentSessions.inc({ experiment, variant, stage }),
  };
}
