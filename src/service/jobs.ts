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

/**
 * Asynchronous cut-out jobs (one or several files), kept in memory on the
 * instance that took them (Cloud Run session affinity keeps a shopper on it).
 * Each job emits stage events; finished jobs are forgotten after a TTL.
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
  get(id: string): Job | undefined;
  /** Listens to a job's events; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void;
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
}

export function createJobs(deps: JobsDeps): Jobs {
  const clock = deps.clock ?? (() => new Date());
  const jobs = new Map<string, Job>();
  const running = new Set<Promise<void>>();
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const tracker = createProgressTracker(deps.concurrency);

  const evict = (): void => {
    const now = clock().getTime();
    for (const [id, job] of jobs) {
      const done = job.status === 'succeeded' || job.status === 'failed';
      if (done && (now - job.updatedAt.getTime() > deps.ttlMs || jobs.size > deps.maxJobs)) jobs.delete(id);
    }
  };
  // A tenth of the lifetime, at most a minute: a finished job is gone soon after it expires.
  const sweeper = setInterval(evict, Math.min(60_000, Math.max(1000, deps.ttlMs / 10)));
  sweeper.unref();

  const emit = (job: Job, event: JobEvent): void => {
    job.last = event;
    job.updatedAt = clock();
    emitter.emit(job.id, event);
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
        input: file.data, outputs: request.outputs, session: request.sessionId, keepRenders: true, reservation: request.reservations[index], origin: request.origin,
        onStage: (stage) => emit(job, progress.stage(stage)),
      });
      const results = (stored?.outputs ?? []).map(({ image, output }) => ({
        effect: output.effect, format: formatOfContentType(output.contentType)?.extension ?? 'bin', contentType: output.contentType,
        width: output.width, height: output.height, bytes: output.data.length, box: output.box, imageId: image.id,
      }));
      Object.assign(entry, { status: 'succeeded', cache: outcome.cache, results, originalId: stored?.original.id, box: outcome.facts.box, confidence: outcome.facts.confidence });
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
      };
      jobs.set(id, job);
      const work = run(job, request).catch((error: unknown) => deps.log('job crashed', error)).finally(() => running.delete(work));
      running.add(work);
      return job;
    },
    get: (id) => jobs.get(id),
    subscribe(id, listener) {
      emitter.on(id, listener);
      return () => emitter.off(id, listener);
    },
    active: () => running.size,
    async drain() {
      while (running.size > 0) await Promise.all([...running]);
    },
    close: () => clearInterval(sweeper),
  };
}
