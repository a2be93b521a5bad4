import type { FiringAlert, KpiAlerts } from './kpiTypes.js';

/**
 * The firing alerts for the dashboard, from Alertmanager's API v2
 * (PETCUT_ALERTMANAGER_URL): GET <url>/api/v2/alerts?active=true&silenced=false&inhibited=false.
 * Asked at most every `cacheMs` (15 s; concurrent callers share one request),
 * with a short timeout: the dashboard never waits long on Alertmanager, and an
 * outage is an `error` in the answer (with the last good list kept), never a
 * failed page. A URL with user:password@ is sent as Basic auth (fetch refuses
 * credentials in URLs) and never shown.
 */
export interface AlertSource {
  read(): Promise<KpiAlerts>;
}

export interface AlertSourceOptions {
  readonly url?: string;
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
  readonly now?: () => number;
}

/** An answer is a list of alerts; more than this are cut (a storm of alerts must not make the answer huge). */
const MAX_ALERTS = 100;
/** Label and annotation values are cut to this many characters. */
const MAX_TEXT = 500;

interface Target { readonly endpoint: string; readonly shown: string; readonly authorization?: string }

function targetOf(url: string): Target {
  const parsed = new URL(url);
  const authorization = parsed.username ? `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}` : undefined;
  parsed.username = '';
  parsed.password = '';
  const base = `${parsed.origin}${parsed.pathname.replace(/\/$/, '')}`;
  return { endpoint: `${base}/api/v2/alerts?active=true&silenced=false&inhibited=false`, shown: base, authorization };
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value.slice(0, MAX_TEXT) : undefined);

/** Alertmanager's gettableAlerts, checked field by field (anything odd is left out, not trusted). */
export function parseAlerts(body: unknown): FiringAlert[] {
  if (!Array.isArray(body)) throw new Error('its answer is not a list of alerts');
  return body.slice(0, MAX_ALERTS).flatMap((raw: unknown): FiringAlert[] => {
    if (!raw || typeof raw !== 'object') return [];
    const alert = raw as { labels?: unknown; annotations?: unknown; startsAt?: unknown; status?: { state?: unknown } };
    // Suppressed (silenced, inhibited) ones are not firing for anyone; 'unprocessed' is a fresh one not yet grouped.
    if (alert.status?.state === 'suppressed') return [];
    const labels = Object.fromEntries(Object.entries(alert.labels && typeof alert.labels === 'object' ? alert.labels : {})
      .slice(0, 30).flatMap(([k, v]) => (typeof v === 'string' ? [[k.slice(0, 100), v.slice(0, MAX_TEXT)]] : [])));
    const annotations = (alert.annotations && typeof alert.annotations === 'object' ? alert.annotations : {}) as Record<string, unknown>;
    const name = labels.alertname;
    if (!name) return [];
    return [{ name, severity: labels.severity, summary: text(annotations.summary) ?? text(annotations.description), startsAt: text(alert.startsAt) ?? '', labels }];
  });
}

function reason(error: unknown, timeoutMs: number): string {
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  if (err.cause) return `unreachable (${err.cause.code ?? err.cause.message ?? 'network error'})`;
  return err.message ?? String(error);
}

export function createAlertSource(options: AlertSourceOptions): AlertSource {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 2000;
  const cacheMs = options.cacheMs ?? 15_000;
  if (!options.url) return { read: async () => ({ configured: false, firing: [] }) };
  const target = targetOf(options.url);
  let last: { at: number; answer: KpiAlerts } | undefined;
  let good: { at: number; firing: FiringAlert[] } | undefined;
  let inFlight: Promise<KpiAlerts> | undefined;

  const fetchOnce = async (): Promise<KpiAlerts> => {
    const base = { configured: true, source: target.shown };
    try {
      const response = await fetch(target.endpoint, {
        headers: { accept: 'application/json', ...(target.authorization ? { authorization: target.authorization } : {}) },
        signal: AbortSignal.timeout(timeoutMs), redirect: 'error',
      });
      if (!response.ok) throw new Error(`answered HTTP ${response.status}`);
      const firing = parseAlerts(await response.json());
      good = { at: now(), firing };
      return { ...base, firing, fetchedAt: new Date(good.at).toISOString() };
    } catch (error) {
      const message = `Alertmanager at ${target.shown}: ${reason(error, timeoutMs)}`;
      return { ...base, firing: good?.firing ?? [], error: message, ...(good ? { fetchedAt: new Date(good.at).toISOString() } : {}) };
    }
  };

  return {
    read() {
      if (last && now() - last.at < cacheMs) return Promise.resolve(last.answer);
      inFlight ??= fetchOnce().then((answer) => {
        last = { at: now(), answer };
        return answer;
      }).finally(() => (inFlight = undefined));
      return inFlight;
    },
  };
}
