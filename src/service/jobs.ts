import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isPetcutError, PetcutError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { OutputSpec } from '../engine/index.js';
import { formatOfContentType } from '../image/formats.js';
import { createProgressTracker } from './progress.js';
import type { JobEvent } from './progress.js';
import type { Cutouts } from './cutouts.js';
import type { ProcessedOutput, WorkOrigin } from './processing.js';
import { parse, SHARED_PREFIX } from './sharedState.js';
import type { SubjectSelection } from './selection.js';
import type { FoundSubject } from '../engine/index.js';
import type { SharedState } from './sharedState.js';

/**
 * Asynchronous cut-out jobs (one or several files), run and kept in memory
 * on the instance that took them; each job emits stage events; finished jobs
 * are forgotten after a TTL. With shared state (Redis), the owner also writes
 * the job's record (with the same expiry) and publishes it on every event, so
 * any instance can answer a poll or follow the job (docs/scale-out.md). A job
 * taken while Redis is away stays this instance's only.
 */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** One output of a file, stored in the job's session (the HTTP view turns its image id into a URL). */
export interface JobResult {
  readonly effect: string;
  readonly format: string;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  readonly box: ProcessedOutput['box'];
  readonly imageId: string;
}

export interface JobFile {
  readonly index: number;
  readonly name?: string;
  status: JobStatus;
  cache?: 'hit' | 'cutout' | 'miss';
  /** The stored original's image id. */
  originalId?: string;
  results?: JobResult[];
  box?: ProcessedOutput['box'];
  confidence?: number;
  /** false: no animal found (the saliency cut-out was returned); absent for `all-salient`. */
  petFound?: boolean;
  /** What the class models found (at most MAX_SUBJECTS). */
  subjects?: readonly FoundSubject[];
  error?: { code: ErrorCode; message: string };
}

export interface Job {
  readonly id: string;
  readonly createdAt: Date;
  updatedAt: Date;
  readonly sessionId: string;
  readonly requestId?: string;
  status: JobStatus;
  files: JobFile[];
  /** The last event: what a client connecting late sees first. */
  last: JobEvent;
  /** Events so far: a follower on another instance skips what its first state already held. */
  seq: number;
}

/** A job as another instance sees it (the shared record and each published message). */
interface JobRecord extends Omit<Job, 'createdAt' | 'updatedAt'> {
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface FileInput {
  readonly data: Buffer;
  readonly name?: string;
  /** The upload gate's refusal: the file fails at once, the rest of its batch goes on. */
  readonly rejected?: PetcutError;
}

export interface CreateJob {
  readonly files: readonly FileInput[];
  readonly outputs: readonly OutputSpec[];
  /** Which subjects to keep, the same for every file. */
  readonly selection?: SubjectSelection;
  /** Where each file's original and outputs are stored (checked by the caller). */
  readonly sessionId: string;
  readonly requestId?: string;
  /** Who asked (cost attribution, traces). */
  readonly origin?: WorkOrigin;
  /** One capacity reservation per file, taken before the 202 is sent. */
  readonly reservations: ReadonlyArray<() => void>;
  /** Gives back what the request still holds (its upload's bytes) once every file is done. */
  readonly release?: () => void;
}

export interface Jobs {
  create(request: CreateJob): Job;
  /** This instance's own job. */
  get(id: string): Job | undefined;
  /** This instance's job, else the shared record (undefined when neither has it, or Redis is away). */
  find(id: string): Promise<Job | undefined>;
  /** Listens to a job's events on this instance; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void;
  /**
   * The job's current state, then every later event with the job as it is after it, wherever the job runs:
   * subscribed before the state is read, so nothing is missed, and nothing the state held comes twice.
   */
  follow(id: string, listener: (event: JobEvent, job: Job) => void, lost?: () => void): Promise<{ job: Job; unsubscribe: () => void } | undefined>;
  /** Jobs not finished yet. */
  active(): number;
  /** Resolves when every running job has finished (graceful shutdown). */
  drain(): Promise<void>;
  close(): void;
}

export interface JobsDeps {
  readonly cutouts: Cutouts;
  readonly ttlMs: number;
  readonly maxJobs: number;
  readonly concurrency: () => number;
  readonly log: (msg: string, err?: unknown) => void;
  /** The wall clock job times and expiry are read from (tests move it). */
  readonly clock?: () => Date;
  /** Where records and events are shared with the other instances (Redis); none: this instance only. */
  readonly shared?: SharedState;
}

const recordKey = (id: string): string => `${SHARED_PREFIX}${id}`;
const eventChannel = (id: string): string => `${SHARED_PREFIX}events:${id}`;
const toRecord = (job: Job): JobRecord => ({ ...job, createdAt: job.createdAt.toISOString(), updatedAt: job.updatedAt.toISOString() });
const fromRecord = (record: JobRecord): Job => ({ ...record, createdAt: new Date(record.createdAt), updatedAt: new Date(record.updatedAt) });

export function createJobs(deps: JobsDeps): Jobs {
  const clock = deps.clock ?? (() => new Date());
  const jobs = new Map<string, Job>();
  // Jobs whose record is shared (taken while Redis answered).
  const sharedJobs = new Set<string>();
  const running = new Set<Promise<void>>();
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const tracker = createProgressTracker(deps.concurrency);

  const evict = (): void => {
    const now = clock().getTime();
    for (const [id, job] of jobs) {
      const done = job.status === 'succeeded' || job.status === 'failed';
      if (done && (now - job.updatedAt.getTime() > deps.ttlMs || jobs.size > deps.maxJobs)) {
        jobs.delete(id);
        sharedJobs.delete(id);
      }
    }
  };
  // A tenth of the lifetime, at most a minute: a finished job is gone soon after it expires.
  const sweeper = setInterval(evict, Math.min(60_000, Math.max(1000, deps.ttlMs / 10)));
  sweeper.unref();

  const emit = (job: Job, event: JobEvent): void => {
    job.last = event;
    job.updatedAt = clock();
    job.seq += 1;
    emitter.emit(job.id, event);
    share(job);
  };

  // Every event is written (the final one included): one MULTI round trip, not awaited (commands keep their order
  // on the connection). While Redis is away nothing is sent; the owner answers for the job from its memory.
  const share = (job: Job): void => {
    const { shared } = deps;
    if (!shared || !sharedJobs.has(job.id) || !shared.up()) return;
    const record = JSON.stringify(toRecord(job));
    shared.put(recordKey(job.id), record, deps.ttlMs, eventChannel(job.id), record).catch(() => undefined);
  };

  // `lost`: Redis went away while following another instance's job (no more events will come this way).
  const followShared = async (shared: SharedState, id: string, listener: (event: JobEvent, job: Job) => void, lost?: () => void) => {
    let seen = -1;
    let pending: JobRecord[] | undefined = [];
    const deliver = (record: JobRecord): void => {
      if (record.seq <= seen) return;
      seen = record.seq;
      listener(record.last, fromRecord(record));
    };
    const unsubscribeChannel = await shared.subscribe(eventChannel(id), (raw) => {
      const record = parse<JobRecord>(raw);
      if (!record) return;
      if (pending) pending.push(record);
      else deliver(record);
    });
    const stopWatching = shared.onDown(() => lost?.());
    const unsubscribe = (): void => {
      stopWatching();
      unsubscribeChannel();
    };
    const raw = await shared.get(recordKey(id)).catch(() => undefined);
    const record = raw === undefined ? undefined : parse<JobRecord>(raw);
    if (!record) {
      unsubscribe();
      return undefined;
    }
    seen = record.seq;
    // After the caller has sent the state (it does so as soon as this resolves): what came while it was read, in order.
    setImmediate(() => {
      const queued = pending ?? [];
      pending = undefined;
      queued.forEach(deliver);
    });
    return { job: fromRecord(record), unsubscribe };
  };

  const runFile = async (job: Job, request: CreateJob, file: FileInput, index: number): Promise<void> => {
    const entry = job.files[index]!;
    entry.status = 'running';
    const progress = tracker.start(job.id, index, request.files.length, request.outputs.length);
    if (file.rejected) {
      request.reservations[index]?.();
      fail(job, request, index, file.rejected);
      return;
    }
    try {
      const { outcome, stored } = await deps.cutouts.cutOut({
        input: file.data, outputs: request.outputs, selection: request.selection, session: request.sessionId, keepRenders: true, reservation: request.reservations[index], origin: request.origin,
        onStage: (stage) => emit(job, progress.stage(stage)),
      });
      const results = (stored?.outputs ?? []).map(({ image, output }) => ({
        effect: output.effect, format: formatOfContentType(output.contentType)?.extension ?? 'bin', contentType: output.contentType,
        width: output.width, height: output.height, bytes: output.data.length, box: output.box, imageId: image.id,
      }));
      Object.assign(entry, { status: 'succeeded', cache: outcome.cache, results, originalId: stored?.original.id, box: outcome.facts.box, confidence: outcome.facts.confidence,
        ...(outcome.facts.petFound !== undefined ? { petFound: outcome.facts.petFound } : {}),
        ...(outcome.facts.subjects ? { subjects: outcome.facts.subjects } : {}),
      });
      progress.done(outcome.cache === 'miss');
    } catch (error) {
      const coded = isPetcutError(error) ? error : new PetcutError('PETCUT_E_INTERNAL');
      if (!isPetcutError(error)) deps.log('job file failed', error);
      fail(job, request, index, coded);
    }
  };

  const fail = (job: Job, request: CreateJob, index: number, error: PetcutError): void => {
    const entry = job.files[index]!;
    entry.status = 'failed';
    entry.error = { code: error.code, message: error.message };
    emit(job, { type: 'error', jobId: job.id, file: index, of: request.files.length, code: error.code, message: error.message });
  };

  const run = async (job: Job, request: CreateJob): Promise<void> => {
    job.status = 'running';
    // Files in order: a batch uses one pipeline at a time and its progress reads naturally.
    try {
      for (const [index, file] of request.files.entries()) await runFile(job, request, file, index);
    } finally {
      request.release?.();
    }
    const failed = job.files.filter((f) => f.status === 'failed').length;
    job.status = failed === job.files.length ? 'failed' : 'succeeded';
    emit(job, { type: 'complete', jobId: job.id, status: job.status, percent: 100, etaSeconds: 0, succeeded: job.files.length - failed, failed });
  };

  return {
    create(request) {
      evict();
      const id = randomUUID();
      const job: Job = {
        id, createdAt: clock(), updatedAt: clock(), sessionId: request.sessionId, requestId: request.requestId, status: 'queued',
        files: request.files.map((f, index) => ({ index, name: f.name, status: 'queued' })),
        last: { type: 'stage', jobId: id, stage: 'queued', percent: 0, etaSeconds: tracker.estimate(request.files.length), file: 0, of: request.files.length, message: 'Waiting to start' },
        seq: 0,
      };
      jobs.set(id, job);
      if (deps.shared?.up()) sharedJobs.add(id);
      share(job);
      const work = run(job, request).catch((error: unknown) => deps.log('job crashed', error)).finally(() => running.delete(work));
      running.add(work);
      return job;
    },
    get: (id) => jobs.get(id),
    async find(id) {
      const own = jobs.get(id);
      if (own || !deps.shared?.up()) return own;
      const raw = await deps.shared.get(recordKey(id)).catch(() => undefined);
      const record = raw === undefined ? undefined : parse<JobRecord>(raw);
      return record ? fromRecord(record) : undefined;
    },
    subscribe(id, listener) {
      emitter.on(id, listener);
      return () => emitter.off(id, listener);
    },
    async follow(id, listener, lost) {
      const own = jobs.get(id);
      if (own) {
        const handler = (event: JobEvent): void => listener(event, own);
        emitter.on(id, handler);
        return { job: own, unsubscribe: () => emitter.off(id, handler) };
      }
      if (!deps.shared?.up()) return undefined;
      return followShared(deps.shared, id, listener, lost).catch(() => undefined);
    },
    active: () => running.size,
    async drain() {
      while (running.size > 0) await Promise.all([...running]);
    },
    close: () => clearInterval(sweeper),
  };
}
