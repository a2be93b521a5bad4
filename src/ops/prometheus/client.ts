/**
 * A Prometheus HTTP API client (GET /api/v1/query and /api/v1/query_range),
 * for a self-hosted Prometheus or Google Cloud Managed Service for
 * Prometheus, whose query API is the same under
 * https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus
 * with an OAuth bearer token. One client, a base URL and an optional token.
 */

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface RangeSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** [unix seconds, value] pairs, oldest first. */
  readonly values: ReadonlyArray<readonly [number, number]>;
}

export interface PrometheusClient {
  readonly base: string;
  /** An instant vector (a scalar answer comes back as one sample without labels). */
  query(expr: string, at?: Date): Promise<Sample[]>;
  queryRange(expr: string, start: Date, end: Date, stepS: number): Promise<RangeSeries[]>;
}

export interface PrometheusOptions {
  /** Sent as `Authorization: Bearer`; a function is asked before each query (tokens expire). */
  readonly token?: string | (() => Promise<string | undefined>);
  readonly timeoutMs?: number;
}

/** The query API refused or could not be reached; says which query and what to check. */
export class PrometheusError extends Error {
  override readonly name = 'PrometheusError';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

interface ApiAnswer {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'matrix' | 'scalar' | 'string'; result: unknown };
}

export function createPrometheusClient(baseUrl: string, options: PrometheusOptions = {}): PrometheusClient {
  let base: URL;
  try {
    base = new URL(baseUrl.replace(/\/+$/, '') + '/');
  } catch {
    throw new PrometheusError(`not a URL: "${baseUrl}" (expected e.g. http://prometheus:9090 or https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus)`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new PrometheusError(`${baseUrl}: only http and https are allowed`);
  const timeoutMs = options.timeoutMs ?? 30_000;

  const call = async (path: string, params: Record<string, string>): Promise<ApiAnswer['data']> => {
    const url = new URL(path, base);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    let response: Response;
    try {
      response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const why = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
      throw new PrometheusError(`cannot reach the Prometheus query API at ${base.href} (${why}): check the URL and that this machine may reach it`);
    }
    const text = await response.text();
    let body: ApiAnswer | undefined;
    try {
      body = JSON.parse(text) as ApiAnswer;
    } catch {
      body = undefined;
    }
    if (!response.ok || body?.status !== 'success') {
      const detail = body?.error ? `${body.errorType ?? 'error'}: ${body.error}` : `HTTP ${response.status} ${text.slice(0, 200)}`;
      const hint = response.status === 401 || response.status === 403 ? ' (check the token: Managed Service for Prometheus needs roles/monitoring.viewer)' : '';
      throw new PrometheusError(`the Prometheus query ${params.query ?? ''} was refused: ${detail}${hint}`, response.status);
    }
    return body.data;
  };

  const number = (raw: unknown): number => Number(raw);
  return {
    base: base.href,
    async query(expr, at) {
      const data = await call('api/v1/query', { query: expr, ...(at ? { time: String(at.getTime() / 1000) } : {}) });
      if (data?.resultType === 'scalar') return [{ labels: {}, value: number((data.result as [number, string])[1]) }];
      if (data?.resultType !== 'vector') throw new PrometheusError(`the query ${expr} gave a ${data?.resultType ?? 'missing'} result, expected an instant vector`);
      return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ labels: r.metric, value: number(r.value[1]) }));
    },
    async queryRange(expr, start, end, stepS) {
      const data = await call('api/v1/query_range', { query: expr, start: String(start.getTime() / 1000), end: String(end.getTime() / 1000), step: String(stepS) });
      if (data?.resultType !== 'matrix') throw new PrometheusError(`the range query ${expr} gave a ${data?.resultType ?? 'missing'} result, expected a matrix`);
      return (data.result as Array<{ metric: Record<string, string>; values: Array<[number, string]> }>).map((r) => ({ labels: r.metric, values: r.values.map(([t, v]) => [t, number(v)] as const) }));
    },
  };
}
