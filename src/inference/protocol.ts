import type { MessagePort } from 'node:worker_threads';

/** Messages between the main thread and the inference worker. */
export interface WorkerInit {
  modelPath: string;
  provider: 'cpu' | 'cuda';
  threads: number;
  inputName: string;
  outputName: string;
  /** The main model's square input side (the warm-up run's shape). */
  inputSize: number;
  memArena: boolean;
  memPattern: boolean;
  /** Where the main model's optimized graph is kept (graphCache.ts); absent: optimize at every start. */
  graphPath?: string;
  /** The class models (pet finding) to load beside the main one, by name. */
  classModels: readonly { name: string; path: string; inputName: string; outputName: string; dims: readonly number[]; graphPath?: string }[];
  /** A run on zeros before `ready` (the first run of a session pays a one-time set-up; on CUDA, cuDNN's algorithm search). */
  warmUp: boolean;
}

/**
 * How a session's graph came to be: `loaded` from the cache, `saved` to it
 * (optimized now), `rebuilt` (a cached file failed to load: deleted, optimized
 * again and saved), `off` (no cache), or `unsaved` (optimized now, the save failed).
 */
export type GraphSource = 'loaded' | 'saved' | 'rebuilt' | 'off' | 'unsaved';

export interface WorkerRequest {
  type: 'infer';
  id: number;
  size: number;
  input: Float32Array;
  /** A class model's name (WorkerInit.classModels) with its input shape; absent: the main model. */
  model?: string;
  dims?: readonly number[];
}

/** Hands the worker a port on which another thread sends WorkerRequests. */
export interface WorkerPortMessage {
  type: 'port';
  port: MessagePort;
}

/** Before the worker is terminated: take no new runs, say `drained` once the running ones are done. */
export interface WorkerDrainMessage {
  type: 'drain';
}

export type WorkerReply =
  | { type: 'ready'; loadMs: number; inputNames: string[]; outputNames: string[]; graph: GraphSource; graphNote?: string; warmUpMs?: number }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; output: Float32Array; dims: number[]; ms: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'drained' };
