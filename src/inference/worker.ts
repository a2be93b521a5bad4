/**
 * The inference worker: owns the process's single ONNX Runtime session for one
 * model. onnxruntime-node's `run` blocks the thread that calls it for the whole
 * inference (measured: no timer fired during a 3.6 s run), so it lives here and
 * the main thread's event loop stays free. Messages are handled one at a time,
 * which serialises inference: on a 2-core machine one run already uses both cores.
 */
import { constants } from 'node:fs';
import { access, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { MessagePort } from 'node:worker_threads';
import type { GraphSource, WorkerDrainMessage, WorkerInit, WorkerPortMessage, WorkerReply, WorkerRequest } from './protocol.js';
import { yieldToMainThread } from './threads.js';

const init = workerData as WorkerInit;
// Before the session exists, so ONNX Runtime's thread pool inherits the lower priority.
yieldToMainThread();
const port = parentPort;
if (!port) throw new Error('inference worker must run in a worker thread');

type Level = 'all' | 'disabled';

function createSession(path: string, level: Level = 'all', savePath?: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, {
    // Ask for exactly one provider: ['cuda', 'cpu'] would hide a broken GPU set-up
    // behind a silent CPU fallback. Falling back is the caller's explicit decision.
    executionProviders: [init.provider],
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
    // 'parallel' measured about 2x slower than 'sequential' on 2 cores.
    executionMode: 'sequential',
    // A graph from the cache is already optimized for this machine (graphCache.ts): optimizing it again only costs time.
    graphOptimizationLevel: level,
    enableCpuMemArena: init.memArena,
    enableMemPattern: init.memPattern,
    // Saving warns that the graph is hardware-specific: known, and why graphCache.ts keys it by the CPU's flags.
    ...(savePath ? { optimizedModelFilePath: savePath, logSeverityLevel: 3 as const } : {}),
  });
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
const writable = (dir: string): Promise<boolean> => mkdir(dir, { recursive: true }).then(() => access(dir, constants.W_OK)).then(() => true, () => false);
const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/**
 * A session from the optimized-graph cache when it holds this model for this
 * machine; otherwise optimized now and saved for the next start (under a
 * temporary name, renamed when complete, so a crash leaves no half file under
 * the real name). A cached file that does not load is deleted and rebuilt; a
 * directory that cannot be written (a read-only image) is only read.
 */
async function cachedSession(modelPath: string, graphPath: string | undefined): Promise<{ session: ort.InferenceSession; graph: GraphSource; note?: string }> {
  if (!graphPath) return { session: await createSession(modelPath), graph: 'off' };
  let note: string | undefined;
  if (await exists(graphPath)) {
    try {
      return { session: await createSession(graphPath, 'disabled'), graph: 'loaded' };
    } catch (error) {
      note = `the cached graph ${graphPath} did not load (${reason(error)}): deleted and rebuilt`;
      await rm(graphPath, { force: true }).catch(() => undefined);
    }
  }
  if (!(await writable(dirname(graphPath)))) {
    return { session: await createSession(modelPath), graph: 'unsaved', note: note ?? `${dirname(graphPath)} is not writable: the graph is optimized at every start` };
  }
  const partial = `${graphPath}.${process.pid}-${threadId}.partial`;
  let session: ort.InferenceSession;
  try {
    session = await createSession(modelPath, 'all', partial);
  } catch (error) {
    await rm(partial, { force: true }).catch(() => undefined);
    // The save may be what failed (a full disk): a plain session says whether the model itself loads.
    return { session: await createSession(modelPath), graph: 'unsaved', note: `saving the optimized graph failed (${reason(error)})` };
  }
  try {
    await rename(partial, graphPath);
  } catch (error) {
    await rm(partial, { force: true }).catch(() => undefined);
    return { session, graph: 'unsaved', note: `keeping the optimized graph failed (${reason(error)})` };
  }
  return { session, graph: note ? 'rebuilt' : 'saved', note };
}

/** One run on zeros: the first run of a session pays a one-time set-up (memory for the activations, kernels; cuDNN's search on CUDA). */
async function runZeros(session: ort.InferenceSession, inputName: string, outputName: string, dims: readonly number[]): Promise<void> {
  const zeros = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), [...dims]);
  (await session.run({ [inputName]: zeros }, [outputName]))[outputName]?.dispose();
}

async function main(): Promise<void> {
  const started = performance.now();
  let session: ort.InferenceSession;
  let graph: GraphSource;
  let graphNote: string | undefined;
  let warmUpMs: number | undefined;
  try {
    ({ session, graph, note: graphNote } = await cachedSession(init.modelPath, init.graphPath));
    for (const model of init.classModels) {
      const { session: classSession } = await cachedSession(model.path, model.graphPath);
      if (!classSession.inputNames.includes(model.inputName) || !classSession.outputNames.includes(model.outputName)) {
        throw new Error(`class model ${model.name} has inputs [${classSession.inputNames.join(', ')}] and outputs [${classSession.outputNames.join(', ')}]; expected ${model.inputName} -> ${model.outputName}`);
      }
      classSessions.set(model.name, { session: classSession, inputName: model.inputName, outputName: model.outputName });
      // One run on zeros now: a shopper's first cut-out should not pay the session's first-run set-up
      // (the class models are small: this costs tens of ms here).
      await runZeros(classSession, model.inputName, model.outputName, model.dims);
    }
    if (init.warmUp) {
      const warmStarted = performance.now();
      await runZeros(session, init.inputName, init.outputName, [1, 3, init.inputSize, init.inputSize]);
      warmUpMs = performance.now() - warmStarted;
    }
  } catch (error) {
    port!.postMessage({ type: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies WorkerReply);
    return;
  }
  port!.postMessage({ type: 'ready', loadMs: performance.now() - started, inputNames: [...session.inputNames], outputNames: [...session.outputNames], graph, graphNote, warmUpMs } satisfies WorkerReply);
  port!.on('message', (message: WorkerRequest | WorkerPortMessage | WorkerDrainMessage) => {
    if (message.type === 'drain') {
      draining = true;
      if (active === 0) port!.postMessage({ type: 'drained' } satisfies WorkerReply);
      return;
    }
    if (message.type === 'port') {
      message.port.on('message', (request: WorkerRequest) => enqueue(session, request, message.port));
      return;
    }
    enqueue(session, message, port!);
  });
}

/*
 * One run at a time, in arrival order: a run already uses every core
 * (intra-op threads), and a closing runtime then waits for one run at most.
 * Terminating this thread while ONNX Runtime still runs aborts the whole
 * process (its completion calls into a torn-down environment), so the
 * runtime drains first: queued runs are refused, and `drained` is sent once
 * the running one is done.
 */
let active = 0;
let draining = false;
const classSessions = new Map<string, { session: ort.InferenceSession; inputName: string; outputName: string }>();
let chain: Promise<void> = Promise.resolve();

function enqueue(session: ort.InferenceSession, request: WorkerRequest, replyTo: MessagePort | typeof port): void {
  active++;
  chain = chain.then(() => run(session, request, replyTo));
}

async function run(session: ort.InferenceSession, request: WorkerRequest, replyTo: MessagePort | typeof port): Promise<void> {
  // A run blocks this thread, so a drain sent during the previous run is still
  // waiting in the message queue: let it in before deciding to start this one
  // (otherwise every queued run goes ahead and a closing engine waits for all).
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (draining) {
    replyTo!.postMessage({ type: 'error', id: request.id, message: 'the runtime is closing' } satisfies WorkerReply);
    if (--active === 0) port!.postMessage({ type: 'drained' } satisfies WorkerReply);
    return;
  }
  try {
    const started = performance.now();
    const target = request.model === undefined
      ? { session, inputName: init.inputName, outputName: init.outputName }
      : classSessions.get(request.model);
    if (!target) throw new Error(`no class model named ${request.model} is loaded`);
    const dims = request.dims ?? [1, 3, request.size, request.size];
    const tensor = new ort.Tensor('float32', request.input, [...dims]);
    // Fetching only the final output lets ORT skip the five unused side-output heads
    // (measured ~10 % faster than fetching all twelve outputs).
    const outputs = await target.session.run({ [target.inputName]: tensor }, [target.outputName]);
    const output = outputs[target.outputName];
    if (!output) throw new Error(`model produced no output named ${target.outputName}`);
    // Copy out of ORT's buffer so it can be transferred without a second copy.
    const data = new Float32Array(output.data as Float32Array);
    const outDims = output.dims.map(Number);
    output.dispose();
    const reply: WorkerReply = { type: 'result', id: request.id, output: data, dims: outDims, ms: performance.now() - started };
    replyTo!.postMessage(reply, [data.buffer]);
  } catch (error) {
    replyTo!.postMessage({ type: 'error', id: request.id, message: error instanceof Error ? error.message : String(error) } satisfies WorkerReply);
  } finally {
    active--;
    if (draining && active === 0) port!.postMessage({ type: 'drained' } satisfies WorkerReply);
  }
}

void main();
