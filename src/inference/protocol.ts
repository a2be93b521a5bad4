import type { MessagePort } from 'node:worker_threads';

/** Messages between the main thread and the inference worker. */
export interface WorkerInit {
  modelPath: string;
  provider: 'cpu' | 'cuda';
  threads: number;
  inputName: string;
  outputName: string;
  memArena: boolean;
  memPattern: boolean;
  /** The class models (pet finding) to load beside the main one, by name. */
  classModels: readonly { name: string; path: string; inputName: string; outputName: string; dims: readonly number[] }[];
}

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
  | { type: 'ready'; loadMs: number; inputNames: string[]; outputNames: string[] }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; output: Float32Array; dims: number[]; ms: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'drained' };
