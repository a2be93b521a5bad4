import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { PetcutError } from '../errors.js';
import { workerPath } from './threads.js';
import type { ClassModelDescription, ModelDescription } from './models.js';
import { classModelPath } from './models.js';
import { createInferenceClient } from './client.js';
import type { GraphSource, WorkerInit, WorkerReply } from './protocol.js';
import { graphCacheEntry } from './graphCache.js';

export type Device = 'cpu' | 'cuda';

export interface RuntimeInfo {
  readonly model: string;
  readonly device: Device;
  /** Why the device is what it is: "requested", or why CUDA was not used. */
  readonly deviceReason: string;
  /** What PETCUT_DEVICE asked for. */
  readonly requestedDevice: 'auto' | Device;
  /**
   * Set when `auto` wanted the GPU and runs on the CPU: `unavailable` (no CUDA provider library or no
   * NVIDIA device) or `failed` (the CUDA session could not be created). Logged, counted and shown in /health.
   */
  readonly fallback?: { readonly from: 'cuda'; readonly to: 'cpu'; readonly reason: 'unavailable' | 'failed'; readonly detail: string };
  readonly threads: number;
  readonly loadMs: number;
  /** Where the optimized graph came from (graphCache.ts): `loaded` from the cache, `saved` to it, `off`, ... */
  readonly graph: GraphSource;
  /** Why the graph cache was not used or rebuilt, when it was not plainly loaded or saved. */
  readonly graphNote?: string;
  /** The warm-up run's time when the session ran one before it was ready (RuntimeOptions.warmUp). */
  readonly warmUpMs?: number;
  readonly inputSize: number;
  /** The class models loaded beside the main one (pet finding), by name; empty when off. */
  readonly classModels: readonly string[];
}

export interface InferenceRuntime {
  readonly info: RuntimeInfo;
  /** Runs the model on a normalised CHW tensor; resolves with the raw output plane. */
  infer(input: Float32Array): Promise<{ output: Float32Array; ms: number }>;
  /** Runs a loaded class model (RuntimeInfo.classModels) on a tensor of its shape. */
  inferClass(model: string, input: Float32Array, dims: readonly number[]): Promise<{ output: Float32Array; ms: number }>;
  /** Requests from this thread waiting for or in inference. */
  pending(): number;
  /** A port on which another thread (a pipeline worker) sends its own inference requests. */
  connect(): MessagePort;
  /** Hands the inference worker the far end of a channel made before the runtime existed (requests already sent wait in it). */
  attach(port: MessagePort): void;
  /** Lets a run in progress finish (up to `waitMs`), then stops the worker; false (worker left running) when the run did not end in time. */
  close(waitMs?: number): Promise<boolean>;
}

export interface RuntimeOptions {
  readonly modelPath: string;
  readonly model: ModelDescription;
  readonly device: 'auto' | Device;
  readonly threads: number;
  readonly memArena?: boolean;
  readonly memPattern?: boolean;
  /** Class models to load beside the main one (pet finding); each file is checked against its size and hash first. */
  readonly classModels?: readonly ClassModelDescription[];
  /**
   * Keep ONNX Runtime's optimized graphs here between starts (graphCache.ts): `identity` is the main
   * model's content identity. Absent: the graph is optimized at every start.
   */
  readonly graphCache?: { readonly dir: string; readonly identity: string };
  /**
   * One inference on zeros before the runtime is ready, so the first real one does not pay the
   * session's first-run set-up. Default: on CUDA only (cuDNN's algorithm search); see docs/performance.md.
   */
  readonly warmUp?: boolean | 'cuda';
  /** Called with one line whenever the runtime makes a decision worth logging. */
  readonly log?: (message: string) => void;
}

/** CUDA is only tried where its provider library was installed and a GPU device node exists. */
export function cudaAvailability(): { available: boolean; reason: string } {
  const require = createRequire(import.meta.url);
  const binding = dirname(require.resolve('onnxruntime-node'));
  const binDir = join(binding, '..', 'bin', 'napi-v6', process.platform, process.arch);
  if (!existsSync(join(binDir, 'libonnxruntime_providers_cuda.so'))) {
    return { available: false, reason: 'onnxruntime-node was installed without its CUDA provider (ONNXRUNTIME_NODE_INSTALL=skip)' };
  }
  if (!existsSync('/dev/nvidia0') && !existsSync('/dev/nvidiactl')) {
    return { available: false, reason: 'no NVIDIA device found' };
  }
  return { available: true, reason: 'CUDA provider and GPU present' };
}

/** A vendored class model's file, checked against the registry's size and sha256 (a damaged or swapped file is refused). */
export async function verifiedClassModel(model: ClassModelDescription): Promise<string> {
  const path = classModelPath(model);
  const bytes = await readFile(path).catch((error: unknown) => {
    throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Class model ${model.name} (${path}) cannot be read: ${(error as Error).message}. It ships in vendor/models/ of the package; set PETCUT_PET_FINDING=false to run without pet finding.`);
  });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== model.bytes || sha256 !== model.sha256) {
    throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Class model ${model.name} (${path}) is ${bytes.length} bytes with sha256 ${sha256}; expected ${model.bytes} bytes, ${model.sha256}.`);
  }
  return path;
}

export async function createRuntime(options: RuntimeOptions): Promise<InferenceRuntime> {
  const log = options.log ?? (() => undefined);
  const classModels = await Promise.all((options.classModels ?? []).map(async (model) => ({
    name: model.name, path: await verifiedClassModel(model), inputName: model.inputName, outputName: model.outputName, dims: model.dims, sha256: model.sha256,
  })));
  const startWorker = async (provider: Device): Promise<StartedWorker> => {
    const started = await startSessionWorker(options, provider, classModels);
    if (started.graphNote) log(`Optimized graph cache: ${started.graphNote}`);
    return started;
  };
  if (options.device === 'cuda') {
    const worker = await startWorker('cuda');
    return wrap(worker, options, { device: 'cuda', deviceReason: 'requested' });
  }
  if (options.device === 'auto') {
    const cuda = cudaAvailability();
    if (cuda.available) {
      try {
        return wrap(await startWorker('cuda'), options, { device: 'cuda', deviceReason: 'auto: GPU found' });
      } catch (error) {
        // An explicit, logged fallback: never a silent one.
        const detail = (error as Error).message;
        log(`CUDA session failed, falling back to CPU: ${detail}`);
        return wrap(await startWorker('cpu'), options, { device: 'cpu', deviceReason: `auto: CUDA failed (${detail})`, fallback: { from: 'cuda', to: 'cpu', reason: 'failed', detail } });
      }
    }
    log(`Running on CPU: ${cuda.reason}`);
    return wrap(await startWorker('cpu'), options, { device: 'cpu', deviceReason: `auto: ${cuda.reason}`, fallback: { from: 'cuda', to: 'cpu', reason: 'unavailable', detail: cuda.reason } });
  }
  return wrap(await startWorker('cpu'), options, { device: 'cpu', deviceReason: 'requested' });
}

interface StartedWorker { worker: Worker; loadMs: number; graph: GraphSource; graphNote?: string; warmUpMs?: number }
type ClassModelFile = Omit<WorkerInit['classModels'][number], 'graphPath'> & { sha256: string };

function startSessionWorker(options: RuntimeOptions, provider: Device, classModels: readonly ClassModelFile[]): Promise<StartedWorker> {
  const cache = options.graphCache;
  // The CUDA provider's graph is not kept: its optimizations depend on the GPU, and it is not measured here.
  const graphPath = (path: string, identity: string): string | undefined => (cache && provider === 'cpu' ? graphCacheEntry(cache.dir, path, identity, provider).path : undefined);
  const warmUp = options.warmUp ?? 'cuda';
  const init: WorkerInit = {
    modelPath: options.modelPath,
    provider,
    threads: options.threads,
    inputName: options.model.inputName,
    outputName: options.model.outputName,
    inputSize: options.model.inputSize,
    memArena: options.memArena ?? true,
    memPattern: options.memPattern ?? false,
    graphPath: cache && graphPath(options.modelPath, cache.identity),
    classModels: classModels.map(({ sha256, ...model }) => ({ ...model, graphPath: graphPath(model.path, sha256) })),
    warmUp: warmUp === 'cuda' ? provider === 'cuda' : warmUp,
  };
  const worker = new Worker(workerPath('inference/worker.js'), { workerData: init });
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply): void => {
      worker.off('error', onError);
      if (reply.type === 'ready') {
        if (!reply.outputNames.includes(options.model.outputName) || !reply.inputNames.includes(options.model.inputName)) {
          void worker.terminate();
          reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE',
            `Model ${options.model.name} has inputs [${reply.inputNames.join(', ')}] and outputs [${reply.outputNames.join(', ')}]; ` +
            `expected input "${options.model.inputName}" and output "${options.model.outputName}".`));
          return;
        }
        resolve({ worker, loadMs: reply.loadMs, graph: reply.graph, graphNote: reply.graphNote, warmUpMs: reply.warmUpMs });
      } else {
        void worker.terminate();
        const code = provider === 'cuda' ? 'PETCUT_E_DEVICE_UNAVAILABLE' : 'PETCUT_E_MODEL_UNAVAILABLE';
        reject(new PetcutError(code, `Could not create the ${provider} session for ${options.model.name}: ${reply.type === 'failed' ? reply.message : 'unexpected reply'}`));
      }
    };
    const onError = (error: Error): void => reject(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Inference worker died: ${error.message}`));
    worker.once('message', onMessage);
    worker.once('error', onError);
  });
}

type Placement = Pick<RuntimeInfo, 'device' | 'deviceReason' | 'fallback'>;

function wrap(started: StartedWorker, options: RuntimeOptions, placement: Placement): InferenceRuntime {
  const { worker } = started;
  const size = options.model.inputSize;
  let dead: Error | undefined;
  const stopped = (error: Error): void => {
    dead ??= error;
  };
  worker.on('error', (error) => stopped(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Inference worker died: ${error.message}`)));
  worker.on('exit', () => stopped(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'Inference worker stopped.')));

  const attach = (port: MessagePort): void => worker.postMessage({ type: 'port', port }, [port]);
  const connect = (): MessagePort => {
    const channel = new MessageChannel();
    attach(channel.port2);
    return channel.port1;
  };
  // This thread's own requests go over a port like every pipeline worker's
  // (the client fails them all if the worker dies).
  const classNames = (options.classModels ?? []).map((model) => model.name);
  const own = createInferenceClient(connect(), size, classNames);

  return {
    info: Object.freeze({ model: options.model.name, ...placement, requestedDevice: options.device, threads: options.threads, loadMs: started.loadMs, graph: started.graph, graphNote: started.graphNote, warmUpMs: started.warmUpMs, inputSize: size, classModels: classNames }),
    infer(input) {
      if (dead) return Promise.reject(dead);
      if (input.length !== 3 * size * size) {
        return Promise.reject(new PetcutError('PETCUT_E_INTERNAL', `Input tensor has ${input.length} values, expected ${3 * size * size}.`));
      }
      return own.infer(input);
    },
    inferClass(model, input, dims) {
      if (dead) return Promise.reject(dead);
      return own.inferClass!(model, input, dims);
    },
    pending: () => own.pending(),
    connect,
    attach,
    async close(waitMs = 30_000) {
      stopped(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'Runtime closed.'));
      // Terminating during a run aborts the process (see worker.ts): wait for the worker to say it is idle.
      const drained = new Promise<void>((resolve) => {
        const onMessage = (reply: WorkerReply): void => {
          if (reply.type !== 'drained') return;
          worker.off('message', onMessage);
          resolve();
        };
        worker.on('message', onMessage);
        worker.once('exit', () => resolve());
      });
      worker.postMessage({ type: 'drain' });
      let timer: NodeJS.Timeout | undefined;
      const idle = await Promise.race([drained.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)))]);
      clearTimeout(timer);
      if (!idle) return false;
      await worker.terminate();
      return true;
    },
  };
}
