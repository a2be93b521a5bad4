import type { Engine, ProcessResult } from '../engine.js';
import { isPetcutError, PetcutError } from '../errors.js';
import type { OutputSpec, ProgressEvent } from '../pipeline/protocol.js';
import type { ResultCache, SubjectFacts } from './cache.js';
import type { Capacity } from './capacity.js';
import type { EngineHandle } from './engineHandle.js';

/**
 * The cut-out service: cache check, admission, the engine, and the cache
 * writes. Routes and jobs call this; it never touches pixels itself.
 */
export type StageEvent =
  | { stage: 'queued'; position: number }
  | { stage: 'cache' }
  | ProgressEvent
  | { stage: 'store' };

export interface ProcessRequest {
  readonly input: Buffer;
  readonly outputs: readonly OutputSpec[];
  readonly onStage?: (event: StageEvent) => void;
  readonly signal?: AbortSignal;
  /** Wait for the renders to be stored (needed before handing out their URLs). */
  readonly storeRenders?: boolean;
  /** A capacity reservation already held (jobs reserve at creation); released when the engine is done. */
  readonly reservation?: () => void;
  /** Who asked for the work: cost attribution and traces. */
  readonly origin?: WorkOrigin;
}

/** The shop, shopper session and HTTP request a piece of work is done for. */
export interface WorkOrigin {
  readonly shop?: string;
  readonly session?: string;
  readonly requestId?: string;
  /** The asking request's trace context (OpenTelemetry's, when tracing is on); opaque here. */
  readonly trace?: unknown;
}

export interface ProcessedOutput {
  readonly key: string;
  readonly effect: string;
  readonly spec: OutputSpec;
  readonly data: Buffer;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly box: SubjectFacts['box'];
}

export interface ProcessOutcome {
  /** hit: every output from the cache; cutout: rendered from the cached cut-out; miss: the model ran. */
  readonly cache: 'hit' | 'cutout' | 'miss';
  readonly outputs: readonly ProcessedOutput[];
  readonly facts: SubjectFacts;
  readonly times: Readonly<Record<string, number>>;
}

export interface Processing {
  process(request: ProcessRequest): Promise<ProcessOutcome>;
  /** Resolves when background cache writes are done (graceful shutdown). */
  drain(): Promise<void>;
  queuePositions(): number;
}

/** Told what each request cost (the metrics); never on the request's path for long. */
export interface ProcessObserver {
  done?(outcome: ProcessOutcome, seconds: number): void;
  failed?(error: unknown): void;
  /** Seconds from admission until a pipeline took the image. */
  waited?(seconds: number): void;
  /** Called as the work starts; the watch sees its stages and its end (cost meter, traces). */
  begin?(request: ProcessRequest): WorkWatch | undefined;
}

export interface WorkWatch {
  stage?(event: StageEvent): void;
  end(result: { readonly outcome?: ProcessOutcome; readonly error?: unknown }): void;
}

export function createProcessing(deps: { engine: EngineHandle; cache: ResultCache; capacity: Capacity; log: (msg: string, err?: unknown) => void; observer?: ProcessObserver }): Processing {
  const { cache, capacity } = deps;
  const background = new Set<Promise<unknown>>();
  const waiting: Array<(position: number) => void> = [];

  const track = (work: Promise<unknown>): void => {
    const guarded = work.catch((error: unknown) => deps.log('cache write failed', error));
    background.add(guarded);
    void guarded.finally(() => background.delete(guarded));
  };

  /** Runs engine work in admission order, reporting the queue position until a worker takes it. */
  const runAdmitted = async (request: ProcessRequest, run: (engine: Engine, onProgress: (e: ProgressEvent) => void) => Promise<ProcessResult>): Promise<ProcessResult> => {
    const engine = deps.engine.require();
    const release = request.reservation ?? capacity.admit();
    const notify = (position: number): void => request.onStage?.({ stage: 'queued', position });
    const started = (): void => {
      const at = waiting.indexOf(notify);
      if (at < 0) return;
      waiting.splice(at, 1);
      waiting.forEach((other, i) => other(i + 1));
    };
    let began = false;
    const admittedAt = performance.now();
    try {
      const running = run(engine, (event) => {
        if (!began) deps.observer?.waited?.((performance.now() - admittedAt) / 1000);
        began = true;
        started();
        request.onStage?.(event);
      });
      // The pool queues synchronously: when it holds jobs now and ours has not begun, ours is the last of them.
      if (!began && engine.queued() > 0) {
        waiting.push(notify);
        notify(waiting.length);
      }
      return await running;
    } finally {
      started();
      release();
    }
  };

  const toOutputs = (result: ProcessResult, specs: readonly OutputSpec[], pixelKey: string): ProcessedOutput[] =>
    result.outputs.map((output, i) => ({
      key: cache.renderKey(pixelKey, specs[i]!),
      effect: output.effect,
      spec: specs[i]!,
      data: output.data,
      contentType: output.contentType,
      width: output.width,
      height: output.height,
      box: output.box,
    }));

  const storeRenders = async (outputs: readonly ProcessedOutput[], wait: boolean, onStage?: (e: StageEvent) => void): Promise<void> => {
    if (outputs.length === 0) return;
    const writes = Promise.all(outputs.map((o) => cache.putRender(o)));
    if (!wait) return track(writes);
    onStage?.({ stage: 'store' });
    try {
      await writes;
    } catch (error) {
      throw isPetcutError(error) ? error : new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', undefined, { cause: error });
    }
  };

  return {
    async process(asked) {
      const started = performance.now();
      const watch = deps.observer?.begin?.(asked);
      const request = watch?.stage ? { ...asked, onStage: (event: StageEvent) => { watch.stage!(event); asked.onStage?.(event); } } : asked;
      try {
        const outcome = await processOnce(request);
        deps.observer?.done?.(outcome, (performance.now() - started) / 1000);
        watch?.end({ outcome });
        return outcome;
      } catch (error) {
        deps.observer?.failed?.(error);
        watch?.end({ error });
        throw error;
      } finally {
        request.reservation?.();
      }
    },
    async drain() {
      while (background.size > 0) await Promise.all([...background]);
    },
    queuePositions: () => waiting.length,
  };

  async function processOnce(request: ProcessRequest): Promise<ProcessOutcome> {
    const started = performance.now();
    deps.engine.require();
    request.onStage?.({ stage: 'cache' });
    const bytesKey = await cache.bytesKey(request.input);
    const alias = await cache.alias(bytesKey).catch((error: unknown) => { deps.log('cache read failed', error); return undefined; });
    if (alias) {
      const cached = await Promise.all(request.outputs.map((spec) => cache.getRender(cache.renderKey(alias.pixelKey, spec)).catch(() => undefined)));
      if (cached.every((c) => c !== undefined)) {
        const outputs = cached.map((c, i) => ({ ...c, effect: request.outputs[i]!.effect ?? 'color', spec: request.outputs[i]! }));
        return { cache: 'hit', outputs, facts: alias.facts, times: { total: performance.now() - started } };
      }
      const master = await cache.getMaster(alias.pixelKey).catch(() => undefined);
      if (master) {
        const result = await runAdmitted(request, (engine, onProgress) => engine.render(master.data, request.outputs, { onProgress, signal: request.signal }));
        const outputs = toOutputs(result, request.outputs, alias.pixelKey);
        await storeRenders(outputs, request.storeRenders ?? false, request.onStage);
        return { cache: 'cutout', outputs, facts: alias.facts, times: { ...result.times, total: performance.now() - started } };
      }
    }
    const result = await runAdmitted(request, (engine, onProgress) => engine.process(request.input, { outputs: request.outputs, master: true }, { onProgress, signal: request.signal }));
    const pixelKey = cache.pixelKey(result.pixelHash!);
    const facts: SubjectFacts = { box: result.box, confidence: result.confidence, zoomed: result.zoomed, sourceWidth: result.sourceWidth, sourceHeight: result.sourceHeight };
    const outputs = toOutputs(result, request.outputs, pixelKey);
    // The master and the alias are only a speed-up: stored in the background, never awaited.
    if (result.master) {
      const master = Buffer.from(result.master.buffer, result.master.byteOffset, result.master.byteLength);
      track(Promise.all([cache.putMaster(pixelKey, master, facts), cache.saveAlias(bytesKey, { pixelKey, facts })]));
    }
    await storeRenders(outputs, request.storeRenders ?? false, request.onStage);
    return { cache: 'miss', outputs, facts, times: { ...result.times, total: performance.now() - started } };
  }
}
