/**
 * The shapes of the plan's business KPIs (#19); the counting is src/service/business.ts. Here, beside
 * the core, so the dashboard's KPIs (observability/kpis.ts) and the weekly report (ops/report/) can read
 * them without importing the service layer (eslint/boundaries.js). Per instance and in memory: widget usage events, satisfaction
 * ratings, the A/B experiment's per-variant conversion to add-to-cart, and the revenue impact of
 * downtime. Prometheus sums the same numbers across instances through the metrics
 * (petcut_widget_events_total, petcut_satisfaction_ratings_total, petcut_experiment_*); docs/kpis.md.
 */

/** What the widget reports (POST /v1/events); anything else is refused with 400. */
export const WIDGET_EVENTS = [
  'upload', 'cutout_shown', 'style_selected', 'preview', 'full_render', 'download', 'add_to_cart',
  'retry', 'no_pet_prompt', 'point_selected', 'rating', 'error',
] as const;
export type WidgetEvent = (typeof WIDGET_EVENTS)[number];

export type Rating = 'good' | 'bad';

/** One experiment variant's numbers: sessions assigned and seen, conversion = addedToCart / sawCutout. */
export interface VariantResult {
  readonly variant: string;
  /** Sessions that sent any event under this variant. */
  readonly sessions: number;
  /** Sessions that saw a cut-out (a cutout_shown event). */
  readonly sawCutout: number;
  /** Of those, sessions that added to cart (an add_to_cart event). */
  readonly addedToCart: number;
  /** addedToCart / sawCutout; null without a session that saw a cut-out. */
  readonly conversion: number | null;
}

export interface ExperimentSnapshot {
  /** e.g. "default-effect" or "pet-finding". */
  readonly name: string;
  /** The configured variants, in order (an even split by hash of name + session id). */
  readonly variants: readonly string[];
  readonly results: readonly VariantResult[];
}

export interface SatisfactionCounts {
  readonly good: number;
  readonly bad: number;
  /** good / (good + bad); null without ratings. */
  readonly shareGood: number | null;
}

export interface RevenueImpact {
  /** PETCUT_ORDER_VALUE_USD; null: not configured (no revenue figure). */
  readonly orderValueUsd: number | null;
  /** Expected orders per day: PETCUT_ORDERS_PER_DAY, else measured add-to-cart sessions per day; null: neither. */
  readonly ordersPerDay: number | null;
  readonly ordersPerDaySource: 'configured' | 'measured' | 'none';
  /** The window measured (minutes since the instance started, at most the last 7 days). */
  readonly windowMinutes: number;
  /** Requests the SLO counts (every route but /healthz and /readyz) and those answered 5xx. */
  readonly requests: number;
  readonly failed: number;
  /** failed / requests; null without requests. */
  readonly failedShare: number | null;
  /**
   * Equivalent full-outage minutes: the sum over the window's minutes with traffic of that
   * minute's failed share (a minute with half its requests failing counts 0.5).
   */
  readonly downtimeMinutes: number;
  /** downtimeMinutes / 1440 * ordersPerDay; null when ordersPerDay is. */
  readonly lostOrders: number | null;
  /** lostOrders * orderValueUsd; null when either is. */
  readonly lostRevenueUsd: number | null;
}

/** What ctx.business.snapshot() answers (the dashboard's "business" panel, the weekly report). */
export interface BusinessSnapshot {
  /** In memory, per instance since it started: Prometheus has the sums across instances. */
  readonly scope: 'instance';
  /** ISO time the counting started (the instance's start). */
  readonly since: string;
  readonly events: {
    readonly total: number;
    /** Every widget event, 0 when none came. */
    readonly byEvent: Readonly<Record<WidgetEvent, number>>;
    /** variant ("none" outside an experiment) -> event -> count, only events that came. */
    readonly byVariant: Readonly<Record<string, Readonly<Partial<Record<WidgetEvent, number>>>>>;
    /** style_selected per effect (unknown effects as "other"). */
    readonly styles: Readonly<Record<string, number>>;
  };
  readonly satisfaction: SatisfactionCounts & {
    /** The plan's target: 99 % satisfaction with image quality. */
    readonly target: number;
    readonly byVariant: Readonly<Record<string, SatisfactionCounts>>;
  };
  /** null: no experiment configured (PETCUT_EXPERIMENT). */
  readonly experiment: ExperimentSnapshot | null;
  readonly revenue: RevenueImpact;
}
