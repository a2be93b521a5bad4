import { setTimeout as sleep } from 'node:timers/promises';
import { googleAccessToken } from './auth.js';
import { CloudRunError, EtagConflictError, cloudRunError, describeProblem } from './errors.js';
import type { GoogleProblem } from './errors.js';
import type { CloudRun, Operation, Revision, Service, ServiceRef, TrafficTarget } from './types.js';

export interface CloudRunClientOptions {
  /** The API's root (default https://run.googleapis.com); tests point it at a loopback fake. */
  readonly baseUrl?: string;
  /** Bearer tokens (default: Application Default Credentials); undefined sends no Authorization header. */
  readonly token?: () => Promise<string | undefined>;
  /** GETs happen for real; PATCH and DELETE are only recorded in `calls` (and logged). */
  readonly dryRun?: boolean;
  /** How often a long-running operation is polled (default 1 s). */
  readonly pollMs?: number;
  readonly log?: (line: string) => void;
}

export interface CloudRunClient extends CloudRun {
  readonly calls: readonly string[];
}

/** Default wait for an operation: a revision that pulls a large image and loads a model can take minutes. */
const WAIT_MS = 15 * 60_000;
/** Transient answers worth another try, for reads only: a PATCH is never sent twice (it could create two revisions). */
const RETRIABLE = new Set([429, 500, 502, 503, 504]);
const GET_TRIES = 3;
/** google.rpc.Code of a failed operation, as HTTP (https://cloud.google.com/apis/design/errors). */
const RPC: Record<number, [number, string]> = {
  3: [400, 'INVALID_ARGUMENT'], 4: [504, 'DEADLINE_EXCEEDED'], 5: [404, 'NOT_FOUND'], 6: [409, 'ALREADY_EXISTS'], 7: [403, 'PERMISSION_DENIED'],
  8: [429, 'RESOURCE_EXHAUSTED'], 9: [400, 'FAILED_PRECONDITION'], 10: [409, 'ABORTED'], 13: [500, 'INTERNAL'], 14: [503, 'UNAVAILABLE'], 16: [401, 'UNAUTHENTICATED'],
};

const servicePath = (ref: ServiceRef): string => `projects/${ref.project}/locations/${ref.region}/services/${ref.service}`;

/** `rev-a 90%, rev-b 10% tag candidate`: the traffic of a PATCH, for --dry-run and logs. */
export function describeTraffic(traffic: readonly TrafficTarget[] = []): string {
  return traffic.map((t) => {
    const who = t.type === 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST' ? 'latest' : (t.revision ?? '?');
    return `${who} ${t.percent ?? 0}%${t.tag ? ` tag ${t.tag}` : ''}`;
  }).join(', ');
}

function describePatch(service: Service): string {
  const image = service.template.containers[0]?.image;
  const revision = service.template.revision ? `, revision ${service.template.revision}` : '';
  return `(traffic: ${describeTraffic(service.traffic)}${image ? `; image ${image}${revision}` : ''})`;
}

async function googleProblem(response: Response): Promise<GoogleProblem> {
  const text = await response.text().catch(() => '');
  try {
    const { error } = JSON.parse(text) as { error?: { status?: string; message?: string } };
    return { status: response.status, reason: error?.status, message: error?.message };
  } catch {
    return { status: response.status, message: text.slice(0, 300) || response.statusText };
  }
}

/** The etag check failed: 409 ABORTED (AIP-154), 412, or FAILED_PRECONDITION naming the etag. */
function isEtagConflict(problem: GoogleProblem): boolean {
  if (problem.status === 412) return true;
  if (problem.status === 409) return problem.reason !== 'ALREADY_EXISTS';
  return problem.reason === 'FAILED_PRECONDITION' && /etag/i.test(problem.message ?? '');
}

export function createCloudRunClient(options: CloudRunClientOptions = {}): CloudRunClient {
  const base = (options.baseUrl ?? 'https://run.googleapis.com').replace(/\/+$/, '');
  const token = options.token ?? googleAccessToken();
  const pollMs = options.pollMs ?? 1000;
  const calls: string[] = [];
  const record = (line: string): void => {
    calls.push(line);
    options.log?.(line);
  };

  /** One call, its answer parsed; GETs retried on transient answers, every other failure a CloudRunError. */
  async function send<T>(method: string, path: string, ref: ServiceRef, doing: string, body?: unknown): Promise<T> {
    const tries = method === 'GET' ? GET_TRIES : 1;
    for (let attempt = 1; ; attempt++) {
      record(`${method} ${path}${method === 'PATCH' ? ` ${describePatch(body as Service)}` : ''}`);
      const bearer = await token();
      const headers: Record<string, string> = { accept: 'application/json' };
      if (bearer) headers.authorization = `Bearer ${bearer}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (error) {
        if (attempt < tries) { await sleep(backoff(attempt)); continue; }
        const cause = error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
        throw new CloudRunError(`${describeProblem(doing, { status: 0 }, ref)} (${base}: ${cause})`, 0);
      }
      if (response.ok) return (await response.json()) as T;
      const problem = await googleProblem(response);
      if (RETRIABLE.has(problem.status) && attempt < tries) { await sleep(backoff(attempt)); continue; }
      if (method === 'PATCH' && isEtagConflict(problem)) {
        throw new EtagConflictError(describeProblem(doing, { ...problem, status: problem.status === 412 ? 412 : 409 }, ref), problem.status, problem.reason);
      }
      throw cloudRunError(doing, problem, ref);
    }
  }

  async function wait(first: Operation, ref: ServiceRef, doing: string, waitMs: number): Promise<Operation> {
    const deadline = Date.now() + waitMs;
    let operation = first;
    while (!operation.done) {
      if (Date.now() > deadline) {
        throw new CloudRunError(`${doing}: operation ${operation.name} was not done after ${Math.round(waitMs / 1000)} s. `
          + 'It may still finish: check the service with `gcloud run services describe` before retrying.', 504, 'DEADLINE_EXCEEDED');
      }
      await sleep(pollMs);
      operation = await send<Operation>('GET', `/v2/${operation.name}`, ref, `${doing} (waiting for operation ${operation.name})`);
    }
    if (operation.error) {
      const [status, reason] = RPC[operation.error.code] ?? [500, 'UNKNOWN'];
      throw new CloudRunError(`${doing} failed: Cloud Run's operation ${operation.name} ended in ${reason}: ${operation.error.message}. `
        + 'Check the revision\'s logs (`gcloud run revisions describe` and Cloud Logging); the traffic stays where it was.', status, reason);
    }
    return operation;
  }

  const getService = (ref: ServiceRef): Promise<Service> =>
    send<Service>('GET', `/v2/${servicePath(ref)}`, ref, `reading service ${servicePath(ref)}`);

  return {
    calls,
    getService,
    async updateService(ref, service, opts) {
      const path = `/v2/${servicePath(ref)}`;
      const doing = `updating service ${servicePath(ref)}`;
      if (options.dryRun) {
        record(`PATCH ${path} ${describePatch(service)} [dry run: not sent]`);
        return structuredClone(service);
      }
      const operation = await send<Operation>('PATCH', path, ref, doing, service);
      await wait(operation, ref, doing, opts?.waitMs ?? WAIT_MS);
      return getService(ref);
    },
    async listRevisions(ref) {
      const revisions: Revision[] = [];
      let pageToken: string | undefined;
      do {
        const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : '';
        const page = await send<{ revisions?: Revision[]; nextPageToken?: string }>('GET', `/v2/${servicePath(ref)}/revisions${query}`, ref,
          `listing the revisions of service ${servicePath(ref)}`);
        revisions.push(...(page.revisions ?? []));
        pageToken = page.nextPageToken || undefined;
      } while (pageToken);
      return revisions;
    },
    getRevision: (ref, revision) =>
      send<Revision>('GET', `/v2/${servicePath(ref)}/revisions/${revision}`, ref, `reading revision ${revision} of service ${servicePath(ref)}`),
    async deleteRevision(ref, revision, opts) {
      const path = `/v2/${servicePath(ref)}/revisions/${revision}`;
      const doing = `deleting revision ${revision} of service ${servicePath(ref)}`;
      if (options.dryRun) {
        record(`DELETE ${path} [dry run: not sent]`);
        return;
      }
      try {
        await wait(await send<Operation>('DELETE', path, ref, doing), ref, doing, opts?.waitMs ?? WAIT_MS);
      } catch (error) {
        if (error instanceof CloudRunError && error.status === 404) return; // already gone: what was asked for
        throw error;
      }
    },
  };
}

/** 200 ms, 600 ms: short, since a human is waiting on the command. */
function backoff(attempt: number): number {
  return 200 * 3 ** (attempt - 1);
}
