import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CostTotals } from '../cost/meter.js';
import type { GpuReading } from './gpu.js';

/**
 * The service's Prometheus metrics (prom-client), names per
 * deploy/prometheus/METRICS.md: the alert rules, SLO rules and dashboards
 * read exactly these. Units in names, `_total` counters. Nothing here does
 * I/O at scrape time: gauges read values other parts keep current.
 */

/** Which build and which Cloud Run revision this process is (config.build: K_SERVICE, K_REVISION, package.json). */
export interface MetricsIdentity {
  readonly version?: string;
  readonly service?: string;
  readonly revision?: string;
}

// The default top bucket (10 s) is shorter than a cold start or a slow 12 MP photo: up to 60 s.
export const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 35, 45, 60];

/** Where the gauges read the service's state at scrape time (all synchronous, no I/O). */
export interface MetricSources {
  queue(): { queued: number; inFlight: number };
  jobsActive(): number;
  memory(): { usedBytes: number; limitBytes: number } | undefined;
  model(): { model: string; device: string } | undefined;
  rateLimits(): { rejected: Readonly<Record<string, number>>; backend: string };
  /** Shared job state: true while Redis answers, undefined when none is configured (no sample then). */
  sharedStateUp?(): boolean | undefined;
  /** Active alert-driven mitigations per action (src/mitigation/); absent: no samples. */
  mitigations?(): Readonly<Record<string, number>>;
  /** Whether the object store is up (its circuit, src/storage/circuit.ts); undefined: no sample. */
  storageUp?(): boolean | undefined;
  /** The cost meter's running totals (undefined when metering is off). */
  cost(): CostTotals | undefined;
  /** GPU readings (empty without a GPU: then no GPU samples are exported). */
  gpus(): readonly GpuReading[];
}

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'route' | 'method' | 'status' | 'code'>;
  readonly httpDuration: Histogram<'route' | 'method'>;
  readonly processingDuration: Histogram<'cold'>;
  readonly stageDuration: Histogram<'stage'>;
  readonly images: Counter<'outcome'>;
  readonly cache: Counter<'result'>;
  readonly coldStartSeconds: Gauge;
  readonly coldStarts: Counter;
  readonly coldServed: Counter;
  readonly warmups: Counter<'result'>;
  readonly queueWait: Histogram;
  readonly storageErrors: Counter<'operation'>;
  readonly sharedStateErrors: Counter<'op'>;
  readonly mitigations: Counter<'action' | 'result'>;
  readonly mitigationAlerts: Counter<'status' | 'handled'>;
  readonly degradedResponses: Counter<'route'>;
  /** The widget's usage events, ratings and experiment funnel (src/service/business.ts; docs/kpis.md). */
  readonly widgetEvents: Counter<'event' | 'variant'>;
  readonly widgetStyles: Counter<'effect'>;
  readonly satisfactionRatings: Counter<'rating' | 'variant'>;
  readonly experimentSessions: Counter<'experiment' | 'variant' | 'stage'>;
  /** Engine loads that wanted the GPU and run on the CPU (RuntimeInfo.fallback): once per load, by reason (docs/gpu.md). */
  readonly deviceFallbacks: Counter<'from' | 'to' | 'reason'>;
  /** Connects the scrape-time gauges to the service (once, when the app is built). */
  bind(sources: MetricSources): void;
}

export function createMetrics(identity: MetricsIdentity = {}): Metrics {
  const registry = new Registry();
  // On Cloud Run every series carries its revision: a blue-green rollout compares the candidate's
  // series with the current revision's ({revision="petcut-production-v42"}). Elsewhere: no label at all.
  if (identity.revision) registry.setDefaultLabels({ revision: identity.revision });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const build = new Gauge({ name: 'petcut_build_info', help: 'The build and Cloud Run revision of this process (value 1); revision and service only on Cloud Run.', labelNames: ['revision', 'service', 'version'], registers: [registry] });
  build.set(buildLabels(identity), 1);
  // One series per process, its value the start time: a revision whose processes keep starting and
  // vanishing within minutes is a restart loop, not scale-out (alerts.yml, PetcutRestartLoop).
  new Gauge({ name: 'petcut_process_start_time_seconds', help: 'When this process started (Unix seconds); one series per process, with the revision on Cloud Run.', registers: [registry] })
    .set(Math.round(performance.timeOrigin) / 1000);
  let sources: MetricSources | undefined;
  const gauge = (name: string, help: string, read: (g: Gauge<string>, s: MetricSources) => void, labelNames: string[] = []): void => {
    new Gauge({ name, help, labelNames, registers: [registry], collect() { if (sources) read(this, sources); } });
  };
  gauge('petcut_queue_depth', 'Images waiting for a pipeline.', (g, s) => g.set(s.queue().queued));
  gauge('petcut_images_in_flight', 'Images being processed now.', (g, s) => g.set(s.queue().inFlight));
  gauge('petcut_jobs_in_flight', 'Jobs not finished yet.', (g, s) => g.set(s.jobsActive()));
  gauge('petcut_memory_usage_bytes', 'Memory in use as the container limit counts it (cgroup, less inactive page cache).', (g, s) => { const m = s.memory(); if (m) g.set(m.usedBytes); });
  gauge('petcut_memory_limit_bytes', 'The memory limit (cgroup, PETCUT_MEMORY_LIMIT_MB, or the host).', (g, s) => { const m = s.memory(); if (m) g.set(m.limitBytes); });
  gauge('petcut_model_info', 'The model and device in use (value 1).', (g, s) => { const m = s.model(); g.reset(); if (m) g.set(m, 1); }, ['model', 'device']);
  // A GPU that does not report a value (nvidia-smi's "[N/A]") has no sample for it: never a made-up 0.
  const perGpu = (pick: (g: GpuReading) => number | null | undefined) => (g: Gauge<string>, s: MetricSources): void => {
    g.reset();
    for (const gpu of s.gpus()) {
      const value = pick(gpu);
      if (typeof value === 'number') g.set({ gpu: gpu.index, name: gpu.name }, value);
    }
  };
  gauge('petcut_gpu_utilization_ratio', 'GPU busy share (nvidia-smi), 0-1; absent without a GPU.', perGpu((gpu) => gpu.utilization), ['gpu', 'name']);
  gauge('petcut_gpu_memory_used_bytes', 'GPU memory in use (nvidia-smi); absent without a GPU.', perGpu((gpu) => gpu.memoryUsedBytes), ['gpu', 'name']);
  gauge('petcut_gpu_memory_total_bytes', 'GPU memory in all (nvidia-smi); absent without a GPU.', perGpu((gpu) => gpu.memoryTotalBytes), ['gpu', 'name']);
  gauge('petcut_gpu_temperature_celsius', 'GPU core temperature (nvidia-smi temperature.gpu), degrees Celsius; absent without a GPU or where it is not reported.', perGpu((gpu) => gpu.temperatureC), ['gpu', 'name']);
  gauge('petcut_gpu_power_watts', 'GPU board power draw (nvidia-smi power.draw), W; absent without a GPU or where it is not reported.', perGpu((gpu) => gpu.powerW), ['gpu', 'name']);
  gauge('petcut_shared_state_up', '1 while the shared job state (Redis) answers, 0 during an outage (jobs then stay with the instance that took them); absent without REDIS_URL.', (g, s) => { const up = s.sharedStateUp?.(); if (up !== undefined) g.set(up ? 1 : 0); });
  gauge('petcut_storage_up', '1 while the object store answers, 0 while its circuit is open (only memory-cache hits are served, new work gets 503).', (g, s) => { const up = s.storageUp?.(); if (up !== undefined) g.set(up ? 1 : 0); });
  gauge('petcut_mitigation_active', 'Alert-driven mitigations active now, by action (min_instances, max_instances, throttle, concurrency); docs/mitigations.md.',
    (g, s) => { for (const [action, n] of Object.entries(s.mitigations?.() ?? {})) g.set({ action }, n); }, ['action']);
  gauge('petcut_rate_limit_fallback', '1 while the rate limiter runs on its in-memory fall-back because Redis is unreachable.', (g, s) => g.set(s.rateLimits().backend === 'memory-fallback' ? 1 : 0));
  // Rejections are counted by the limiter itself (it also knows Redis fail-overs): exported as a counter of its totals.
  new Counter({
    name: 'petcut_rate_limit_rejections_total', help: 'Requests refused with 429, by rule (ip, session, warmup).', labelNames: ['rule'], registers: [registry],
    collect() {
      if (!sources) return;
      this.reset();
      for (const [rule, count] of Object.entries(sources.rateLimits().rejected)) this.inc({ rule }, count);
    },
  });
  // Cost: the meter keeps running totals; a scrape brings them up to now once and every cost
  // series reads that one snapshot, so busy + idle = total within a scrape.
  let costSnapshot: { at: number; totals: CostTotals | undefined } | undefined;
  const costTotals = (): CostTotals | undefined => {
    const at = performance.now();
    if (!costSnapshot || at - costSnapshot.at > 250) costSnapshot = { at, totals: sources?.cost() };
    return costSnapshot.totals;
  };
  const costCounter = (name: string, help: string, labelNames: string[], read: (c: Counter<string>, totals: CostTotals) => void): void => {
    new Counter({ name, help, labelNames, registers: [registry], collect() { const totals = costTotals(); if (!totals) return; this.reset(); read(this, totals); } });
  };
  costCounter('petcut_cost_usd_total', 'Estimated spend in USD by kind (vcpu, memory, gpu, requests), from the Cloud Run price list (deploy/cost/prices.yml).', ['kind'],
    (c, t) => Object.entries(t.usd).forEach(([kind, usd]) => c.inc({ kind }, usd)));
  costCounter('petcut_cost_idle_usd_total', 'The part of petcut_cost_usd_total spent while no photo was in flight (idle instance time), by kind.', ['kind'],
    (c, t) => Object.entries(t.idleUsd).forEach(([kind, usd]) => c.inc({ kind }, usd)));
  costCounter('petcut_cost_customer_usd_total', 'Spend charged to each shop: its share of busy time and its request fees (idle not included; "none" = no shop credential).', ['shop'],
    (c, t) => t.byShop.forEach((usd, shop) => c.inc({ shop }, usd)));
  costCounter('petcut_instance_seconds_total', 'Instance lifetime seconds, busy (a photo in flight) or idle.', ['state'],
    (c, t) => { c.inc({ state: 'busy' }, t.busySeconds); c.inc({ state: 'idle' }, t.idleSeconds); });
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> => new Counter({ name, help, labelNames, registers: [registry] });
  const histogram = <L extends string>(name: string, help: string, labelNames: L[] = [], buckets = DURATION_BUCKETS): Histogram<L> => new Histogram({ name, help, labelNames, buckets, registers: [registry] });
  return {
    registry,
    httpRequests: counter('petcut_http_requests_total', 'HTTP requests by route, method, status and error code ("" on success).', ['route', 'method', 'status', 'code']),
    httpDuration: histogram('petcut_http_request_duration_seconds', 'HTTP request time, first byte in to last byte out.', ['route', 'method']),
    processingDuration: histogram('petcut_processing_duration_seconds', 'Time to produce a cut-out (admission to result); cold="true" before the instance\'s first inference finished.', ['cold']),
    stageDuration: histogram('petcut_processing_stage_duration_seconds', 'Time in each processing stage (decode, segmentation, refine, effect, encode, store).', ['stage']),
    images: counter('petcut_images_total', 'Photos processed, by outcome (success, failure).', ['outcome']),
    cache: counter('petcut_cache_requests_total', 'Cut-out requests by cache result (hit, cutout, miss).', ['result']),
    coldStartSeconds: new Gauge({ name: 'petcut_cold_start_seconds', help: 'Process start to model ready, seconds.', registers: [registry] }),
    coldStarts: counter('petcut_cold_starts_total', 'Cold starts (one per process, counted when the model is ready).'),
    coldServed: counter('petcut_cold_served_requests_total', 'Cut-out requests served before the instance\'s first inference finished.'),
    warmups: counter('petcut_warmups_total', 'POST /warmup calls by result (ran, joined, already_warm, recent_request, outside_hours, budget_spent, refused, failed).', ['result']),
    queueWait: histogram('petcut_queue_wait_seconds', 'Time an image waited for a pipeline.'),
    storageErrors: counter('petcut_storage_errors_total', 'Storage calls that failed, by operation.', ['operation']),
    sharedStateErrors: counter('petcut_shared_state_errors_total', 'Shared job state (Redis) calls that failed, by operation (put, get, publish, subscribe, connect, connection).', ['op']),
    mitigations: counter('petcut_mitigations_total', 'Alert-driven mitigation actions by action and result (applied, already_active, skipped, failed, undone, expired).', ['action', 'result']),
    mitigationAlerts: counter('petcut_mitigation_alerts_total', 'Alerts received from Alertmanager by status (firing, resolved) and whether a mitigation is bound to the name (handled: true, false).', ['status', 'handled']),
    degradedResponses: counter('petcut_degraded_responses_total', 'Cut-outs answered while storage was down (from the memory cache, without a session copy), by route.', ['route']),
    // Label values are bounded by the service: the widget's event list, the experiment's variants or "none", registered effects or "other".
    widgetEvents: counter('petcut_widget_events_total', 'Storefront widget events (POST /v1/events) by event and experiment variant ("none" outside one).', ['event', 'variant']),
    widgetStyles: counter('petcut_widget_styles_total', 'Print styles chosen in the widget (style_selected events), by effect ("other" for names the registry lacks).', ['effect']),
    satisfactionRatings: counter('petcut_satisfaction_ratings_total', 'One-tap cut-out ratings from shoppers (POST /v1/sessions/{id}/feedback), good or bad, by variant.', ['rating', 'variant']),
    experimentSessions: counter('petcut_experiment_sessions_total', 'A/B experiment sessions by variant and stage: session (first event), cutout_shown (saw a cut-out), add_to_cart (added to cart after one).', ['experiment', 'variant', 'stage']),
    deviceFallbacks: counter('petcut_device_fallbacks_total', 'Engine loads that wanted the GPU (PETCUT_DEVICE=auto) and run on the CPU, by reason: unavailable (no CUDA provider or no NVIDIA device), failed (the CUDA session could not be created).', ['from', 'to', 'reason']),
    bind: (bound) => void (sources = bound),
  };
}

/** Only the labels that are known: an empty label is an absent one to Prometheus, so leave it out of the text too. */
function buildLabels(identity: MetricsIdentity): Partial<Record<'revision' | 'service' | 'version', string>> {
  const labels: Partial<Record<'revision' | 'service' | 'version', string>> = {};
  if (identity.revision) labels.revision = identity.revision;
  if (identity.service) labels.service = identity.service;
  labels.version = identity.version ?? 'unknown';
  return labels;
}
