import { Worker } from 'node:worker_threads';
import { PetcutError } from '../../errors.js';
import type { MessagePort } from 'node:worker_threads';
import type { ModelDescription } from '../../inference/models.js';
import { workerPath } from '../../inference/threads.js';
import type { CutoutSummary, JobKind, PipelineInit, PipelineReply, PipelineRequest, ProcessSummary, ProgressEvent, SegmentSummary } from './protocol.js';

interface Pending { resolve: (value: never) => void; reject: (error: Error) => void; onProgress?: (event: ProgressEvent) => void }
interface Queued extends Pending { request: PipelineRequest }
interface Slot { worker: Worker; jobs: Map<number, Pending> }

export interface RunControl {
  onProgress?: (event: ProgressEvent) => void;
  /** Aborting a job that still waits in the queue drops it; one already in a worker finishes. */
  signal?: AbortSignal;
}

export interface PipelinePool {
  run(kind: 'cutout', input: Buffer, options: PipelineRequest['options']): Promise<CutoutSummary>;
  run(kind: 'segment', input: Buffer, options: PipelineRequest['options']): Promise<SegmentSummary>;
  run(kind: 'process' | 'render', input: Buffer, options: PipelineRequest['options'], control?: RunControl): Promise<ProcessSummary>;
  /** Jobs accepted and not finished (queued or in a worker). */
  inFlight(): number;
  /** Jobs waiting for a free worker. */
  queued(): number;
  /** The worker threads now (diagnostics: event-loop utilisation, resource use; tests stop one to see a crash handled). */
  threads(): readonly Worker[];
  /**
   * Refuses what waits, lets the images in the workers stop at their next
   * stage (up to `waitMs`), then stops the workers. Resolves false, leaving a
   * busy worker running, when one is still inside native code at the end:
   * stopping it there would abort the process.
   */
  close(waitMs?: number): Promise<boolean>;
}

export interface PipelineSetup {
  /** A port to the inference worker (requests sent before the model is loaded wait in it). */
  readonly connect: () => MessagePort;
  /** The class models the inference worker loads, by name. */
  readonly classModels: readonly string[];
  readonly model: ModelDescription;
  readonly maxPixels: number;
  /** Workers; a synthetic image warms each one's pixel loops at start. */
  readonly size: number;
  readonly warmUp: boolean;
}

/**
 * A fixed set of pipeline workers sharing the one inference worker. Two are
 * enough on two cores: one image decodes or encodes while the other is in the
 * model. A worker that dies fails its own jobs and is replaced. The workers
 * start while the model loads (their start-up and warm-up overlap it).
 */
export function createPipelinePool(setup: PipelineSetup): PipelinePool {
  const { model, maxPixels, size } = setup;
  let nextId = 1;
  let closed = false;
  let replacing = false;
  const slots: Slot[] = [];
  // One job per worker at a time: a worker holds one image's buffers, never a backlog.
  const queue: Queued[] = [];

  const dispatch = (): void => {
    for (const slot of slots) {
      if (slot.jobs.size > 0 || queue.length === 0) continue;
      const job = queue.shift()!;
      slot.jobs.set(job.request.id, job);
      slot.worker.postMessage(job.request);
    }
  };

  const spawn = (index: number): void => {
    const port = setup.connect();
    // A replacement (after a crash) starts while the service is busy: no warm-up then.
    const init: PipelineInit = { port, model, maxPixels, classModels: setup.classModels, warmUp: setup.warmUp && !replacing };
    const worker = new Worker(workerPath('engine/pipeline/worker.js'), { workerData: init, transferList: [port] });
    const slot: Slot = { worker, jobs: new Map() };
    worker.on('message', (reply: PipelineReply) => {
      const job = slot.jobs.get(reply.id);
      if (!job) return;
      if ('progress' in reply) {
        job.onProgress?.(reply.progress);
        return;
      }
      slot.jobs.delete(reply.id);
      if (reply.ok) job.resolve(reviveBuffers(reply) as never);
      else job.reject(new PetcutError(reply.code, reply.message));
      dispatch();
    });
    worker.on('exit', () => {
      for (const job of slot.jobs.values()) job.reject(new PetcutError('PETCUT_E_INTERNAL', 'The image pipeline stopped unexpectedly.'));
      slot.jobs.clear();
      if (!closed) {
        replacing = true;
        spawn(index);
        dispatch();
      }
    });
    worker.on('error', (error) => console.error('petcut pipeline worker died:', error));
    slots[index] = slot;
  };
  for (let i = 0; i < size; i++) spawn(i);

  const run = (kind: JobKind, input: Buffer, options: PipelineRequest['options'], control: RunControl = {}): Promise<never> => {
    if (closed) return Promise.reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'The engine is closed.'));
    if (control.signal?.aborted) return Promise.reject(new PetcutError('PETCUT_E_CLIENT_CLOSED'));
    const request: PipelineRequest = { id: nextId++, kind, input, options };
    return new Promise<never>((resolve, reject) => {
      const job: Queued = { request, resolve, reject, onProgress: control.onProgress };
      queue.push(job);
      control.signal?.addEventListener('abort', () => {
        const at = queue.indexOf(job);
        if (at < 0) return;
        queue.splice(at, 1);
        reject(new PetcutError('PETCUT_E_CLIENT_CLOSED'));
      }, { once: true });
      dispatch();
    });
  };

  return {
    run: run as PipelinePool['run'],
    inFlight: () => queue.length + slots.reduce((sum, slot) => sum + slot.jobs.size, 0),
    queued: () => queue.length,
    threads: () => slots.map((slot) => slot.worker),
    async close(waitMs = 30_000) {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'The engine is closed.'));
      // A worker stopped mid-image may be inside sharp or an inference call: it stops at its next stage, then it is idle.
      for (const slot of slots) slot.worker.postMessage({ kind: 'cancel' });
      const busy = (): boolean => slots.some((slot) => slot.jobs.size > 0);
      const until = Date.now() + waitMs;
      while (busy() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      if (busy()) return false;
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
      return true;
    },
  };
}

/** Structured clone turns Buffers into plain Uint8Arrays: give `data` its Buffer face back. */
function reviveBuffers(reply: Extract<PipelineReply, { ok: true }>): unknown {
  if (reply.kind === 'segment') return reply.result;
  if (reply.kind === 'cutout') return { ...reply.result, data: asBuffer(reply.result.data) };
  const { outputs, master } = reply.result;
  return { ...reply.result, outputs: outputs.map((o) => ({ ...o, data: asBuffer(o.data) })), master: master ? asBuffer(master) : undefined };
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
