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
import type { WorkerInit, WorkerReply } from './protocol.js';

export type Device = 'cpu' | 'cuda';

export interface RuntimeInfo {
  readonly model: string;
  readonly device: Device;
  /** Why the device is what it is: "requested", or why CUDA was not used. */
  readonly deviceReason: string;
  readonly threads: number;
  readonly loadMs: number;
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
    name: model.name, path: await verifiedClassModel(model), inputName: model.inputName, outputName: model.outputName, dims: model.dims,
  })));
  const startWorker = (provider: Device): Promise<StartedWorker> => startSessionWorker(options, provider, classModels);
  if (options.device === 'cuda') {
    const worker = await startWorker('cuda');
    return wrap(worker, options, 'cuda', 'requested');
  }
  if (options.device === 'auto') {
    const cuda = cudaAvailability();
    if (cuda.available) {
      try {
        return wrap(await startWorker('cuda'), options, 'cuda', 'auto: GPU found');
      } catch (error) {
        // An explicit, logged fallback: never a silent one.
        log(`CUDA session failed, falling back to CPU: ${(error as Error).message}`);
        return wrap(await startWorker('cpu'), options, 'cpu', `auto: CUDA failed (${(error as Error).message})`);
      }
    }
    log(`Running on CPU: ${cuda.reason}`);
    return wrap(await startWorker('cpu'), options, 'cpu', `auto: ${cuda.reason}`);
  }
  return wrap(await startWorker('cpu'), options, 'cpu', 'requested');
}

interface StartedWorker { worker: Worker; loadMs: number }

function startSessionWorker(options: RuntimeOptions, provider: Device, classModels: WorkerInit['classModels']): Promise<StartedWorker> {
  const init: WorkerInit = {
    modelPath: options.modelPath,
    provider,
    threads: options.threads,
    inputName: options.model.inputName,
    outputName: options.model.outputName,
    memArena: options.memArena ?? true,
    memPattern: options.memPattern ?? false,
    classModels,
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
        resolve({ worker, loadMs: reply.loadMs });
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

function wrap(started: StartedWorker, options: RuntimeOptions, device: Device, deviceReason: string): InferenceRuntime {
  const { worker } = started;
  const size = options.model.inputSize;
  let dead: Error | undefined;
  const stopped = (error: Error): void => {
    dead ??= error;
  };
  worker.on('error', (error) => stopped(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Inference worker died: ${error.message}`)));
  worker.on('exit', () => stopped(new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', 'Inference worker stopped.')));

  const connect = (): MessagePort => {
    const channel = new MessageChannel();
    worker.postMessage({ type: 'port', port: channel.port2 }, [channel.port2]);
    return channel.port1;
  };
  // This thread's own requests go over a port like every pipeline worker's
  // (the client fails them all if the worker dies).
  const classNames = (options.classModels ?? []).map((model) => model.name);
  const own = createInferenceClient(connect(), size, classNames);

  return {
    info: Object.freeze({ model: options.model.name, device, deviceReason, threads: options.threads, loadMs: started.loadMs, inputSize: size, classModels: classNames }),
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
