import type { MessagePort } from 'node:worker_threads';
import { PetcutError } from '../errors.js';
import type { WorkerReply, WorkerRequest } from './protocol.js';

/** What the segmentation needs from the model: a tensor in, its output plane out. */
export interface Inferencer {
  infer(input: Float32Array): Promise<{ output: Float32Array; ms: number }>;
  /** Runs a class model (pet finding) by name on a tensor of the given shape; absent when none is loaded. */
  inferClass?(model: string, input: Float32Array, dims: readonly number[]): Promise<{ output: Float32Array; ms: number }>;
}

export interface InferenceClient extends Inferencer {
  /** Requests sent and not answered. */
  pending(): number;
}

/** Sends inference requests over a port connected to the process's one inference worker. */
export function createInferenceClient(port: MessagePort, size: number, classModels: readonly string[] = []): InferenceClient {
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
  const send = (input: Float32Array, model?: string, dims?: readonly number[]): Promise<{ output: Float32Array; ms: number }> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      const request: WorkerRequest = { type: 'infer', id, size, input, model, dims };
      port.postMessage(request, [input.buffer as ArrayBuffer]);
    });
  };
  const client: InferenceClient = { pending: () => waiting.size, infer: (input) => send(input) };
  if (classModels.length === 0) return client;
  return {
    ...client,
    inferClass(model, input, dims) {
      if (!classModels.includes(model)) return Promise.reject(new PetcutError('PETCUT_E_INTERNAL', `No class model named ${model} is loaded.`));
      if (input.length !== dims.reduce((a, b) => a * b, 1)) return Promise.reject(new PetcutError('PETCUT_E_INTERNAL', `Input tensor has ${input.length} values for shape [${dims.join(', ')}].`));
      return send(input, model, dims);
    },
  };
}
