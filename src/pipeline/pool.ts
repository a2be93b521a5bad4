import { Worker } from 'node:worker_threads';
import { PetcutError } from '../errors.js';
import type { InferenceRuntime } from '../inference/runtime.js';
import type { ModelDescription } from '../inference/models.js';
import { workerPath } from '../workerPath.js';
import type { CutoutSummary, JobKind, PipelineInit, PipelineReply, PipelineRequest, SegmentSummary } from './protocol.js';

interface Pending { resolve: (value: never) => void; reject: (error: Error) => void }
interface Queued extends Pending { request: PipelineRequest }
interface Slot { worker: Worker; jobs: Map<number, Pending> }

export interface PipelinePool {
  run(kind: 'cutout', input: Buffer, options: PipelineRequest['options']): Promise<CutoutSummary>;
  run(kind: 'segment', input: Buffer, options: PipelineRequest['options']): Promise<SegmentSummary>;
  /** Jobs accepted and not finished (queued or in a worker). */
  inFlight(): number;
  /** Jobs waiting for a free worker. */
  queued(): number;
  close(): Promise<void>;
}

/**
 * A fixed set of pipeline workers sharing the one inference worker. Two are
 * enough on two cores: one image decodes or encodes while the other is in the
 * model. A worker that dies fails its own jobs and is replaced.
 */
export function createPipelinePool(runtime: InferenceRuntime, model: ModelDescription, maxPixels: number, size: number): PipelinePool {
  let nextId = 1;
  let closed = false;
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
    const port = runtime.connect();
    const init: PipelineInit = { port, model, maxPixels };
    const worker = new Worker(workerPath('pipeline/worker.js'), { workerData: init, transferList: [port] });
    const slot: Slot = { worker, jobs: new Map() };
    worker.on('message', (reply: PipelineReply) => {
      const job = slot.jobs.get(reply.id);
      if (!job) return;
      slot.jobs.delete(reply.id);
      if (reply.ok) job.resolve(reviveBuffers(reply) as never);
      else job.reject(new PetcutError(reply.code, reply.message));
      dispatch();
    });
    worker.on('exit', () => {
      for (const job of slot.jobs.values()) job.reject(new PetcutError('PETCUT_E_INTERNAL', 'The image pipeline stopped unexpectedly.'));
      slot.jobs.clear();
      if (!closed) {
        spawn(index);
        dispatch();
      }
    });
    worker.on('error', (error) => console.error('petcut pipeline worker died:', error));
    slots[index] = slot;
  };
  for (let i = 0; i < size; i++) spawn(i);

  const run = (kind: JobKind, input: Buffer, options: PipelineRequest['options']): Promise<never> => {
    if (closed) return Promise.reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'The engine is closed.'));
    const request: PipelineRequest = { id: nextId++, kind, input, options };
    return new Promise<never>((resolve, reject) => {
      queue.push({ request, resolve, reject });
      dispatch();
    });
  };

  return {
    run: run as PipelinePool['run'],
    inFlight: () => queue.length + slots.reduce((sum, slot) => sum + slot.jobs.size, 0),
    queued: () => queue.length,
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'The engine is closed.'));
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
    },
  };
}

/** Structured clone turns Buffers into plain Uint8Arrays: give `data` its Buffer face back. */
function reviveBuffers(reply: PipelineReply & { ok: true }): unknown {
  if (reply.kind === 'segment') return reply.result;
  const data = reply.result.data as Uint8Array;
  return { ...reply.result, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}
