import type { MessagePort } from 'node:worker_threads';
import { PetcutError } from '../errors.js';
import type { WorkerReply, WorkerRequest } from './protocol.js';

/** What the segmentation needs from the model: a tensor in, its output plane out. */
export interface Inferencer {
  infer(input: Float32Array): Promise<{ output: Float32Array; ms: number }>;
}

export interface InferenceClient extends Inferencer {
  /** Requests sent and not answered. */
  pending(): number;
}

/** Sends inference requests over a port connected to the process's one inference worker. */
export function createInferenceClient(port: MessagePort, size: number): InferenceClient {
  const waiting = new Map<number, { resolve: (value: { output: Float32Array; ms: number }) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  port.on('message', (reply: WorkerReply) => {
    if (reply.type !== 'result' && reply.type !== 'error') return;
    const entry = waiting.get(reply.id);
    if (!entry) return;
    waiting.delete(reply.id);
    if (reply.type === 'result') entry.resolve({ output: reply.output, ms: reply.ms });
    else entry.reject(new PetcutError('PETCUT_E_INTERNAL', `Inference failed: ${reply.message}`));
  });
  port.on('close', () => {
    for (const entry of waiting.values()) entry.reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'Inference worker stopped.'));
    waiting.clear();
  });
  return {
    pending: () => waiting.size,
    infer(input) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        const request: WorkerRequest = { type: 'infer', id, size, input };
        port.postMessage(request, [input.buffer as ArrayBuffer]);
      });
    },
  };
}
