import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Condition, ConditionState, Operation, Revision, RevisionTemplate, Service, ServiceRef, TrafficTarget, TrafficTargetStatus } from '../../src/ops/cloudrun/types.js';
import { childEnv } from './env.js';

/**
 * A loopback fake of the slice of the Cloud Run Admin API v2 that petcut's
 * operations code uses (services get/patch, revisions list/get/delete,
 * operations get), speaking its REST JSON, and behind it the data plane:
 * each revision is a real petcut process (dist/main.js), the service URL
 * splits requests by the traffic percentages and each tag has its own URL.
 * One service per fake. Like Cloud Run, a PATCH that changes the template
 * creates a revision, and the traffic moves only once that revision is ready
 * (a revision that fails leaves the traffic where it was).
 */
export interface FakeImage {
  /** What "running this image" means: extra env for the petcut process (a bad model path makes a bad image). */
  readonly env?: Record<string, string>;
}

export interface CloudRunFake {
  /** http://127.0.0.1:<port>: what createCloudRunClient({ baseUrl }) takes. */
  readonly apiBase: string;
  /** The service's own URL: requests split by the traffic percentages (smooth weighted round robin: 10 % is exactly 1 in 10). */
  readonly serviceUrl: string;
  /** Image reference -> behaviour; an image not here fails its revision (image not found). */
  readonly images: Map<string, FakeImage>;
  /** Seeds the service with its first revision (traffic: LATEST 100 %, as `gcloud run deploy` does, unless given); waits until it is ready. */
  createService(ref: ServiceRef, template: RevisionTemplate, traffic?: TrafficTarget[]): Promise<Service>;
  /** The revision's petcut process while it runs. */
  revisionProcess(revision: string): { port: number; pid: number } | undefined;
  /** "METHOD /path?query" of every API request. */
  readonly requests: string[];
  /** Revision -> requests it served through the service URL and the tag URLs. */
  readonly servedBy: Map<string, number>;
  /** Answer the next `times` API requests whose "METHOD /path" matches with this HTTP status and Google's error JSON. */
  failNext(status: number, times?: number, match?: RegExp): void;
  /** The service-level scaling (Service.scaling) as it is now, undefined before any. */
  serviceScaling(): { minInstanceCount?: number; maxInstanceCount?: number } | undefined;
  /** Every accepted PATCH that changed the service-level scaling: the values after it, and whether it made a revision. */
  readonly scalingChanges: Array<{ minInstanceCount?: number; maxInstanceCount?: number; revision: boolean }>;
  /** Prometheus file_sd JSON: one target per ready revision process, labelled { cloud_run_service } (petcut labels its own revision). */
  readonly targetsFile: string;
  /** Kills every process (SIGTERM, SIGKILL after 5 s) and closes every listener. */
  close(): Promise<void>;
}

export interface CloudRunFakeOptions {
  /** The env every revision's process starts from (the container's env and the image's go over it). */
  readonly baseEnv: Record<string, string>;
  /** How long a revision may take to answer /readyz 200 (default 60 s: the model loads in seconds). */
  readonly readyTimeoutMs?: number;
  /** PETCUT_DATA_DIR of every revision, unless its image's env sets one. */
  readonly dataDir: string;
}

const root = new URL('../..', import.meta.url).pathname;
/** Small on purpose, so every listing crosses page boundaries. */
const PAGE_SIZE = 2;
/** The output kept per revision, for failure messages. */
const OUTPUT_LINES = 200;
const KILL_AFTER_MS = 5000;
const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
/** Cloud Run's tag rule: a DNS label, lower case (the service name and tag together form a hostname). */
const TAG = /^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$/;
const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ABORTED', 412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 502: 'UNAVAILABLE', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};
/** Fields the server owns: what a client sends back in them is ignored, as the real API does. */
const OUTPUT_ONLY = ['name', 'uid', 'generation', 'observedGeneration', 'etag', 'createTime', 'updateTime', 'uri', 'trafficStatuses', 'latestReadyRevision',
  'latestCreatedRevision', 'terminalCondition', 'conditions', 'reconciling', 'creator', 'lastModifier', 'urls'];

class ApiError extends Error {
  constructor(readonly code: number, readonly status: string, message: string) {
    super(message);
  }
}

interface FakeRevision {
  readonly id: string;
  readonly uid: string;
  readonly template: RevisionTemplate;
  readonly createTime: string;
  state: 'pending' | 'ready' | 'failed';
  updateTime: string;
  message?: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  port?: number;
  readonly output: string[];
}

interface FakeService {
  readonly ref: ServiceRef;
  readonly name: string;
  readonly uid: string;
  readonly createTime: string;
  updateTime: string;
  generation: number;
  observedGeneration: number;
  etag: string;
  /** What the client sent besides the fields below and the output-only ones (scaling, ingress...): sent back as it came. */
  rest: Record<string, unknown>;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  template: RevisionTemplate;
  traffic: TrafficTarget[];
  statuses: TrafficTargetStatus[];
  latestReady?: string;
  latestCreated?: string;
  terminal: Condition;
  reconciling: boolean;
}

/** A revision's share of the service URL, for the smooth weighted round robin (nginx's). */
interface Route { readonly revision: string; readonly weight: number; current: number }

interface PendingOperation { operation: Operation; completeOnPoll: boolean }

const now = (): string => new Date().toISOString();
const newEtag = (): string => `"${randomBytes(9).toString('base64url')}"`;
const letters = (): string => Array.from(randomBytes(3), (b) => String.fromCharCode(97 + (b % 26))).join('');
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** JSON with sorted keys: a deep compare that ignores key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new ApiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
  }
}

const alive = (child: ChildProcess | undefined): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;

export async function startCloudRunFake(options: CloudRunFakeOptions): Promise<CloudRunFake> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const images = new Map<string, FakeImage>();
  const requests: string[] = [];
  const servedBy = new Map<string, number>();
  const revisions = new Map<string, FakeRevision>();
  const operations = new Map<string, PendingOperation>();
  const tagListeners = new Map<string, { server: Server; port: number }>();
  const failures: Array<{ status: number; times: number; match?: RegExp }> = [];
  const scalingChanges: CloudRunFake['scalingChanges'] = [];
  const targetsDir = await mkdtemp(join(tmpdir(), 'petcut-cloudrun-fake-'));
  const targetsFile = join(targetsDir, 'targets.json');
  let service: FakeService | undefined;
  let routes: Route[] = [];
  let targetsWritten: Promise<void> = Promise.resolve();
  let closing = false;

  // --- the data plane: the service URL, the tag URLs, one petcut process per revision ---

  function writeTargets(): Promise<void> {
    if (closing) return targetsWritten; // its folder is going away
    const running = [...revisions.values()].filter((r) => r.state === 'ready' && alive(r.child));
    const body = JSON.stringify(running.map((r) => ({ targets: [`127.0.0.1:${r.port}`], labels: { cloud_run_service: service?.ref.service ?? '' } })), null, 2);
    // Written aside and renamed: Prometheus never reads half a file.
    targetsWritten = targetsWritten.then(async () => {
      await writeFile(`${targetsFile}.tmp`, body);
      await rename(`${targetsFile}.tmp`, targetsFile);
    });
    return targetsWritten;
  }

  function servingRevision(id: string | undefined): FakeRevision | undefined {
    const revision = id === undefined ? undefined : revisions.get(id);
    return revision?.state === 'ready' && alive(revision.child) ? revision : undefined;
  }

  function pickRevision(): string | undefined {
    const live = routes.filter((r) => servingRevision(r.revision));
    const total = live.reduce((sum, r) => sum + r.weight, 0);
    let best: Route | undefined;
    for (const route of live) {
      route.current += route.weight;
      if (!best || route.current > best.current) best = route;
    }
    if (best) best.current -= total;
    return best?.revision;
  }

  function forward(req: IncomingMessage, res: ServerResponse, id: string | undefined): void {
    const revision = servingRevision(id);
    if (!revision || id === undefined) {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable: no revision can serve this request.\n');
      return;
    }
    servedBy.set(id, (servedBy.get(id) ?? 0) + 1);
    const upstream = httpRequest({ host: '127.0.0.1', port: revision.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(503).end()));
    req.pipe(upstream);
  }

  /** WebSocket (and any other) upgrades: the request head replayed to the revision, then the two sockets joined. */
  function forwardUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, id: string | undefined): void {
    const revision = servingRevision(id);
    if (!revision || id === undefined) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      return;
    }
    servedBy.set(id, (servedBy.get(id) ?? 0) + 1);
    const upstream = connect(revision.port as number, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  }

  function dataPlane(route: () => string | undefined): Server {
    const server = createServer((req, res) => forward(req, res, route()));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => forwardUpgrade(req, socket, head, route()));
    return server;
  }

  const resolveTarget = (t: TrafficTarget): string | undefined => (t.type === LATEST ? service?.latestReady : t.revision);

  /** Moves the traffic: the round robin from the percentages, a listener per tag (a tag gone closes its own). */
  async function applyTraffic(traffic: TrafficTarget[]): Promise<void> {
    const weights = new Map<string, number>();
    for (const t of traffic) {
      const id = resolveTarget(t);
      if (id && (t.percent ?? 0) > 0) weights.set(id, (weights.get(id) ?? 0) + (t.percent ?? 0));
    }
    const divisor = [...weights.values()].reduce(gcd, 0) || 1;
    routes = [...weights].map(([revision, weight]) => ({ revision, weight: weight / divisor, current: 0 }));
    const tags = new Set(traffic.flatMap((t) => (t.tag ? [t.tag] : [])));
    for (const [tag, listener] of tagListeners) {
      if (!tags.has(tag)) {
        tagListeners.delete(tag);
        await closeServer(listener.server);
      }
    }
    for (const tag of tags) {
      if (tagListeners.has(tag)) continue;
      const server = dataPlane(() => {
        const target = service?.statuses.find((s) => s.tag === tag);
        return target ? resolveTarget(target) : undefined;
      });
      tagListeners.set(tag, { server, port: await listen(server) });
    }
    if (service) {
      service.statuses = traffic.map((t) => ({
        type: t.type ?? REVISION, ...(t.type === LATEST ? {} : { revision: t.revision }), ...(t.percent ? { percent: t.percent } : {}),
        ...(t.tag ? { tag: t.tag, uri: `http://127.0.0.1:${tagListeners.get(t.tag)?.port}` } : {}),
      }));
    }
  }

  function keepOutput(revision: FakeRevision, chunk: unknown): void {
    const lines = String(chunk).split('\n').filter((line) => line.length > 0);
    revision.output.push(...lines);
    revision.output.splice(0, Math.max(0, revision.output.length - OUTPUT_LINES));
  }

  const lastLines = (revision: FakeRevision): string =>
    (revision.output.length ? `\nLast lines of the container's output:\n${revision.output.slice(-20).join('\n')}` : '');

  async function stopProcess(revision: FakeRevision): Promise<void> {
    const child = revision.child;
    if (!child || !alive(child)) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    await revision.exited;
    clearTimeout(killer);
  }

  /** Runs the revision's image: ready when /readyz answers 200; failed when the process exits first, or never gets there in time. */
  async function runRevision(revision: FakeRevision): Promise<string | undefined> {
    const container = revision.template.containers[0];
    const image = container ? images.get(container.image) : undefined;
    if (!container || !image) return `Image '${container?.image ?? ''}' not found.`;
    const port = await freePort();
    const ref = service?.ref as ServiceRef;
    const env = childEnv({
      ...options.baseEnv, PETCUT_DATA_DIR: options.dataDir,
      ...Object.fromEntries((container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]]))),
      ...image.env,
      PORT: String(port), PETCUT_HOST: '127.0.0.1', K_SERVICE: ref.service, K_REVISION: revision.id, K_CONFIGURATION: ref.service,
    });
    const child = spawn(process.execPath, ['dist/main.js'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    revision.child = child;
    revision.port = port;
    // 'close', not 'exit': the output read to its end, for the failure message.
    revision.exited = new Promise((resolve) => child.once('close', () => resolve()));
    void revision.exited.then(() => writeTargets());
    child.stdout?.on('data', (chunk) => keepOutput(revision, chunk));
    child.stderr?.on('data', (chunk) => keepOutput(revision, chunk));
    const timeout = `The user-provided container failed to start and listen on the port defined provided by the PORT=${port} environment variable`;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (!alive(child)) {
        await revision.exited;
        return `${timeout}: it exited (${child.exitCode ?? child.signalCode}) first. Logs for this revision might contain more information.${lastLines(revision)}`;
      }
      if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)) return undefined;
      if (Date.now() > deadline) {
        await stopProcess(revision);
        return `${timeout} within the allocated timeout (${readyTimeoutMs} ms). Logs for this revision might contain more information.${lastLines(revision)}`;
      }
      await sleep(100);
    }
  }

  // --- the control plane ---

  const fullName = (id: string): string => `${service?.name}/revisions/${id}`;

  function touch(s: FakeService): void {
    s.etag = newEtag();
    s.updateTime = now();
  }

  function serviceJson(): Service {
    const s = service as FakeService;
    const routesReady: Condition = { type: 'RoutesReady', state: s.terminal.state, lastTransitionTime: s.updateTime };
    return {
      ...s.rest, name: s.name, uid: s.uid, generation: String(s.generation), observedGeneration: String(s.observedGeneration), createTime: s.createTime,
      updateTime: s.updateTime, etag: s.etag, annotations: s.annotations, labels: s.labels, template: structuredClone(s.template), traffic: structuredClone(s.traffic),
      trafficStatuses: structuredClone(s.statuses), uri: serviceUrl,
      ...(s.latestReady ? { latestReadyRevision: fullName(s.latestReady) } : {}), ...(s.latestCreated ? { latestCreatedRevision: fullName(s.latestCreated) } : {}),
      terminalCondition: { ...s.terminal }, conditions: [routesReady, { type: 'ConfigurationsReady', state: s.terminal.state, lastTransitionTime: s.updateTime }],
      reconciling: s.reconciling,
    };
  }

  const CONDITION: Record<FakeRevision['state'], ConditionState> = { pending: 'CONDITION_RECONCILING', ready: 'CONDITION_SUCCEEDED', failed: 'CONDITION_FAILED' };

  function revisionJson(r: FakeRevision): Revision {
    const { labels, annotations, containers, ...rest } = r.template;
    delete rest.revision; // the template's name for it is the revision's name
    const ready: Condition = { type: 'Ready', state: CONDITION[r.state], lastTransitionTime: r.updateTime, ...(r.message ? { message: r.message, reason: 'HEALTH_CHECK_CONTAINER_ERROR' } : {}) };
    return {
      ...structuredClone(rest), name: fullName(r.id), uid: r.uid, service: service?.name, generation: '1', observedGeneration: '1', createTime: r.createTime,
      updateTime: r.updateTime, labels: labels ?? {}, annotations: annotations ?? {}, containers: structuredClone(containers), conditions: [ready],
      terminalCondition: ready, reconciling: r.state === 'pending', etag: `"${r.uid.slice(0, 12)}-${r.state}"`, launchStage: 'GA',
    };
  }

  function newOperation(s: FakeService, completeOnPoll: boolean): Operation {
    const operation: Operation = {
      name: `projects/${s.ref.project}/locations/${s.ref.region}/operations/${randomUUID()}`,
      metadata: { '@type': 'type.googleapis.com/google.cloud.run.v2.Service', ...serviceJson() }, done: false,
    };
    operations.set(operation.name.split('/').at(-1) as string, { operation, completeOnPoll });
    return operation;
  }

  function validateTraffic(traffic: TrafficTarget[], known: Set<string>): void {
    const invalid = (message: string): ApiError => new ApiError(400, 'INVALID_ARGUMENT', message);
    let sum = 0;
    const tags = new Set<string>();
    for (const t of traffic) {
      const percent = t.percent ?? 0;
      if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw invalid(`spec.traffic: percent must be an integer from 0 to 100, got ${percent}.`);
      sum += percent;
      if (t.type !== LATEST && !t.revision) throw invalid('spec.traffic: a target of type TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION must name a revision.');
      if (t.type !== LATEST && t.revision && !known.has(t.revision)) throw invalid(`spec.traffic: Revision named '${t.revision}' does not exist.`);
      if (t.tag !== undefined) {
        if (!TAG.test(t.tag)) throw invalid(`spec.traffic: tag '${t.tag}' must be lower-case letters, digits and hyphens, start with a letter and end with a letter or digit.`);
        if (tags.has(t.tag)) throw invalid(`spec.traffic: tag '${t.tag}' is used by more than one target.`);
        tags.add(t.tag);
      }
    }
    if (sum !== 100) throw invalid(`spec.traffic: the percentages must add up to 100, they add up to ${sum}.`);
  }

  /** Cloud Run's rule for ServiceScaling: whole counts 0-1000, max at least min (0 or absent: no maximum). */
  function validateScaling(scaling: unknown): void {
    if (scaling === undefined) return;
    const { minInstanceCount: min = 0, maxInstanceCount: max = 0 } = scaling as { minInstanceCount?: unknown; maxInstanceCount?: unknown };
    const count = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 1000;
    if (!count(min) || !count(max)) throw new ApiError(400, 'INVALID_ARGUMENT', `spec.scaling: instance counts must be integers from 0 to 1000, got min ${String(min)}, max ${String(max)}.`);
    if ((max as number) > 0 && (min as number) > (max as number)) throw new ApiError(400, 'INVALID_ARGUMENT', `spec.scaling: minInstanceCount (${String(min)}) must not exceed maxInstanceCount (${String(max)}).`);
  }

  /** A PATCH: the etag checked, a revision made when the template changed; settles when the traffic moved (or the revision failed). */
  function update(body: Service): { operation: Operation; settled: Promise<void> } {
    const s = service as FakeService;
    if (body.etag !== undefined && body.etag !== s.etag) {
      throw new ApiError(409, 'ABORTED', `The etag ${body.etag} does not match the current etag ${s.etag} of ${s.name}: the service changed since it was read.`);
    }
    validateScaling(body.scaling);
    const template = body.template ?? s.template;
    const changed = canonical(template) !== canonical(s.template);
    let id = changed ? template.revision || `${s.ref.service}-${String(s.generation + 1).padStart(5, '0')}-${letters()}` : undefined;
    // Back to an existing revision's own template (a failed candidate's service restored): no new revision, that one is the latest again.
    const restored = id !== undefined && template.revision ? revisions.get(id) : undefined;
    if (restored && canonical(restored.template) === canonical(template)) {
      id = undefined;
      Object.assign(s, { latestCreated: restored.id, ...(restored.state === 'ready' ? { terminal: { type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: now() } } : {}) });
    }
    if (id !== undefined && revisions.has(id)) throw new ApiError(409, 'ALREADY_EXISTS', `Revision named '${id}' with different configuration already exists.`);
    if (changed && !template.containers?.[0]?.image) throw new ApiError(400, 'INVALID_ARGUMENT', 'spec.template.containers[0].image: an image is required.');
    const traffic = body.traffic?.length ? structuredClone(body.traffic) : [{ type: LATEST, percent: 100 } as TrafficTarget];
    validateTraffic(traffic, new Set([...revisions.keys(), ...(id ? [id] : [])]));
    const rest = Object.fromEntries(Object.entries(body).filter(([key]) => !OUTPUT_ONLY.includes(key)
      && !['annotations', 'labels', 'template', 'traffic'].includes(key)));
    if (canonical(rest.scaling) !== canonical(s.rest.scaling)) scalingChanges.push({ ...(rest.scaling as object), revision: id !== undefined });
    Object.assign(s, { rest, annotations: body.annotations ?? {}, labels: body.labels ?? {}, template: structuredClone(template), traffic });
    s.generation++;
    touch(s);
    if (id === undefined) {
      const settled = applyTraffic(traffic).then(() => {
        s.observedGeneration = s.generation;
        touch(s);
      });
      return { operation: newOperation(s, true), settled };
    }
    const revision: FakeRevision = { id, uid: randomUUID(), template: structuredClone(template), createTime: now(), updateTime: now(), state: 'pending', output: [] };
    revisions.set(id, revision);
    Object.assign(s, { latestCreated: id, reconciling: true, terminal: { type: 'Ready', state: 'CONDITION_RECONCILING', lastTransitionTime: now() } });
    const operation = newOperation(s, false);
    const settled = runRevision(revision).then(async (failure) => {
      revision.updateTime = now();
      if (failure === undefined && !closing) {
        revision.state = 'ready';
        s.latestReady = id;
        await applyTraffic(s.traffic);
        await writeTargets();
        Object.assign(s, { terminal: { type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: now() } });
      } else {
        const message = `Revision '${id}' is not ready and cannot serve traffic. ${failure ?? 'The fake was closed.'}`;
        Object.assign(revision, { state: 'failed', message });
        // The service's condition follows its latest generation: a template already put back is not failed by this one.
        if (s.latestCreated === id) Object.assign(s, { terminal: { type: 'Ready', state: 'CONDITION_FAILED', message, reason: 'REVISION_FAILED', lastTransitionTime: now() } });
        operation.error = { code: 9, message };
      }
      Object.assign(s, { reconciling: false, observedGeneration: s.generation });
      touch(s);
      if (!operation.error) operation.response = { '@type': 'type.googleapis.com/google.cloud.run.v2.Service', ...serviceJson() };
      operation.done = true;
    });
    return { operation, settled };
  }

  /** Answered done once the revision's process is gone, as the real operation is. */
  async function deleteRevision(id: string): Promise<Operation> {
    const s = service as FakeService;
    const revision = revisions.get(id);
    if (!revision) throw new ApiError(404, 'NOT_FOUND', `Revision '${id}' of service '${s.ref.service}' does not exist.`);
    const why = routes.some((r) => r.revision === id) ? 'is serving traffic'
      : s.traffic.some((t) => resolveTarget(t) === id) || s.statuses.some((t) => resolveTarget(t) === id) ? 'is named in the service\'s traffic (or a tag)'
        : s.latestCreated === id ? 'is the service\'s latest revision' : undefined;
    if (why) throw new ApiError(400, 'FAILED_PRECONDITION', `Revision ${id} cannot be deleted: it ${why}. Move the traffic and tags off it first.`);
    const response = revisionJson(revision);
    revisions.delete(id);
    await stopProcess(revision);
    await writeTargets();
    return { name: `projects/${s.ref.project}/locations/${s.ref.region}/operations/${randomUUID()}`, done: true, response: { '@type': 'type.googleapis.com/google.cloud.run.v2.Revision', ...response } };
  }

  function listRevisions(url: URL): { revisions: Revision[]; nextPageToken?: string } {
    const all = [...revisions.values()].reverse(); // newest first, as Cloud Run lists them
    const offset = Number(Buffer.from(url.searchParams.get('pageToken') ?? '', 'base64url').toString() || 0);
    const size = Math.min(Number(url.searchParams.get('pageSize') ?? PAGE_SIZE) || PAGE_SIZE, PAGE_SIZE);
    const page = all.slice(offset, offset + size).map(revisionJson);
    const more = offset + size < all.length;
    return { revisions: page, ...(more ? { nextPageToken: Buffer.from(String(offset + size)).toString('base64url') } : {}) };
  }

  function requireService(project: string, region: string, name: string): FakeService {
    const s = service;
    if (!s || s.ref.project !== project || s.ref.region !== region || s.ref.service !== name) {
      throw new ApiError(404, 'NOT_FOUND', `Resource '${name}' of kind 'SERVICE' in region '${region}' in project '${project}' does not exist.`);
    }
    return s;
  }

  /** ?updateMask=a,b: only those top-level fields come from the body (no etag needed), the rest stays as it is. */
  function masked(body: Service, mask: string | null): Service {
    if (mask === null) return body;
    const fields = mask.split(',').map((f) => f.trim());
    const unknownField = fields.find((f) => !['scaling', 'labels', 'annotations', 'traffic', 'template'].includes(f));
    if (unknownField) throw new ApiError(400, 'INVALID_ARGUMENT', `updateMask: field '${unknownField}' is not supported by this fake.`);
    const current: Partial<Service> = serviceJson();
    delete current.etag;
    return { ...current, ...Object.fromEntries(fields.map((f) => [f, body[f]])), ...(body.etag ? { etag: body.etag } : {}) } as Service;
  }

  async function route(req: IncomingMessage, url: URL): Promise<unknown> {
    const path = url.pathname;
    const operation = /^\/v2\/projects\/([^/]+)\/locations\/([^/]+)\/operations\/([^/]+)$/.exec(path);
    if (operation && req.method === 'GET') {
      const pending = operations.get(operation[3] as string);
      if (!pending) throw new ApiError(404, 'NOT_FOUND', `Operation ${path.slice(4)} does not exist.`);
      if (pending.completeOnPoll && !pending.operation.done) Object.assign(pending.operation, { done: true, response: { '@type': 'type.googleapis.com/google.cloud.run.v2.Service', ...serviceJson() } });
      return pending.operation;
    }
    const m = /^\/v2\/projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)(\/revisions(?:\/([^/]+))?)?$/.exec(path);
    if (!m) throw new ApiError(404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
    const [, project, region, name, revisionsPart, revisionId] = m as unknown as [string, string, string, string, string?, string?];
    requireService(project, region, name);
    if (!revisionsPart && req.method === 'GET') return serviceJson();
    if (!revisionsPart && req.method === 'PATCH') return update(masked((await readJson(req)) as Service, url.searchParams.get('updateMask'))).operation;
    if (revisionsPart && !revisionId && req.method === 'GET') return listRevisions(url);
    if (revisionId && req.method === 'GET') {
      const revision = revisions.get(revisionId);
      if (!revision) throw new ApiError(404, 'NOT_FOUND', `Revision '${revisionId}' of service '${name}' does not exist.`);
      return revisionJson(revision);
    }
    if (revisionId && req.method === 'DELETE') return deleteRevision(revisionId);
    throw new ApiError(501, 'UNIMPLEMENTED', `${req.method} is not supported on ${path}.`);
  }

  const sendJson = (res: ServerResponse, code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
  };
  const sendError = (res: ServerResponse, error: ApiError): void => sendJson(res, error.code, { error: { code: error.code, message: error.message, status: error.status } });

  function injectedFailure(line: string, path: string): ApiError | undefined {
    const failure = failures.find((f) => f.times > 0 && (!f.match || f.match.test(line)));
    if (!failure) return undefined;
    failure.times--;
    const message = failure.status === 403 ? `Permission 'run.services.get' denied on resource '${path.slice(4)}' (or resource may not exist).`
      : `The service is currently unavailable (injected ${failure.status}).`;
    return new ApiError(failure.status, GOOGLE_STATUS[failure.status] ?? 'UNKNOWN', message);
  }

  const api = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const line = `${req.method} ${url.pathname}${url.search}`;
    requests.push(line);
    const injected = injectedFailure(line, url.pathname);
    if (injected) return sendError(res, injected);
    if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
      return sendError(res, new ApiError(401, 'UNAUTHENTICATED', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.'));
    }
    route(req, url).then((body) => sendJson(res, 200, body), (error: unknown) => {
      sendError(res, error instanceof ApiError ? error : new ApiError(500, 'INTERNAL', error instanceof Error ? error.message : String(error)));
    });
  });

  const front = dataPlane(pickRevision);
  const apiBase = `http://127.0.0.1:${await listen(api)}`;
  const serviceUrl = `http://127.0.0.1:${await listen(front)}`;
  await writeTargets();

  return {
    apiBase, serviceUrl, images, requests, servedBy, targetsFile,
    async createService(ref, template, traffic) {
      if (service) throw new Error(`this fake already holds ${service.name}: one service per fake`);
      const created = now();
      service = {
        ref, name: `projects/${ref.project}/locations/${ref.region}/services/${ref.service}`, uid: randomUUID(), createTime: created, updateTime: created,
        generation: 0, observedGeneration: 0, etag: newEtag(), rest: {}, annotations: {}, labels: {}, template: { containers: [] }, traffic: [], statuses: [],
        terminal: { type: 'Ready', state: 'CONDITION_PENDING' }, reconciling: true,
      };
      const { operation, settled } = update({ name: service.name, template, ...(traffic ? { traffic } : {}) });
      await settled;
      if (operation.error) throw new Error(operation.error.message);
      return serviceJson();
    },
    revisionProcess(id) {
      const revision = revisions.get(id);
      const pid = revision?.child?.pid;
      return alive(revision?.child) && revision?.port !== undefined && pid !== undefined ? { port: revision.port, pid } : undefined;
    },
    scalingChanges,
    serviceScaling: () => structuredClone(service?.rest.scaling as { minInstanceCount?: number; maxInstanceCount?: number } | undefined),
    failNext(status, times = 1, match) {
      failures.push({ status, times, match });
    },
    async close() {
      closing = true;
      await Promise.all([...revisions.values()].map(stopProcess));
      await Promise.all([api, front, ...[...tagListeners.values()].map((l) => l.server)].map(closeServer));
      tagListeners.clear();
      await targetsWritten.catch(() => undefined);
      await rm(targetsDir, { recursive: true, force: true });
    },
  };
}
