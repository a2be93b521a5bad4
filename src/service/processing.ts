import type { Engine, ProcessResult } from '../engine/index.js';
import { isPetcutError, PetcutError } from '../errors.js';
import type { OutputSpec, ProgressEvent } from '../engine/index.js';
import type { ProcessObserver, StageEvent, WorkOrigin } from '../observability/work.js';
import type { StorageHealth } from '../storage/circuit.js';
import type { ResultCache, SubjectFacts } from './cache.js';

export type { StageEvent, WorkOrigin } from '../observability/work.js';
import { OverloadError } from './capacity.js';
import type { Capacity } from './capacity.js';
import type { EngineHandle } from './engineHandle.js';
import { boundedFacts, segmentOptionsOf } from './selection.js';
import type { SubjectSelection } from './selection.js';

/**
 * The cut-out service: cache check, admission, the engine, and the cache
 * writes. Routes and jobs call this; it never touches pixels itself.
 */
export interface ProcessRequest {
  readonly input: Buffer;
  readonly outputs: readonly OutputSpec[];
  /** Which subjects to keep (default: every pet, people dropped); part of the cache keys. */
  readonly selection?: SubjectSelection;
  readonly onStage?: (event: StageEvent) => void;
  readonly signal?: AbortSignal;
  /** Wait for the renders to be stored (needed before handing out their URLs). */
  readonly storeRenders?: boolean;
  /** A capacity reservation already held (jobs reserve at creation); released when the engine is done. */
  readonly reservation?: () => void;
  /** Who asked for the work: cost attribution and traces. */
  readonly origin?: WorkOrigin;
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
  /** The cut-out's cache key (its master, its renders): a stored copy of the photo is linked to it (cutouts.ts). */
  readonly pixelKey?: string;
  readonly outputs: readonly ProcessedOutput[];
  readonly facts: SubjectFacts;
  readonly times: Readonly<Record<string, number>>;
  /** Set by the cut-out use case: answered while storage was down (from the memory cache, or without the session copy). */
  readonly degraded?: 'storage';
}

export interface Processing {
  process(request: ProcessRequest): Promise<ProcessOutcome>;
  /**
   * Graceful shutdown, first step: work not started yet (waiting for a
   * worker, or arriving from now on) is refused with 503
   * PETCUT_E_SHUTTING_DOWN so its client retries elsewhere; work already in a
   * worker goes on.
   */
  beginDrain(): void;
  /** Resolves when every process() call and background cache write is done. */
  drain(): Promise<void>;
  /** The drain deadline passed: every process() still running is answered with PETCUT_E_SHUTTING_DOWN now. */
  abandon(): void;
  queuePositions(): number;
}

/**
 * `storage`: the store's circuit. While it is open, work that needs the model is refused (503
 * PETCUT_E_STORAGE_UNAVAILABLE with Retry-After) before it is admitted: its results could not be
 * kept (cache, session copies, job results), and a bucket outage is no time to spend GPU seconds.
 * Full cache hits need no model and no store: they are still answered.
 */
export function createProcessing(deps: { engine: EngineHandle; cache: ResultCache; capacity: Capacity; log: (msg: string, err?: unknown) => void; observer?: ProcessObserver; storage?: StorageHealth }): Processing {
  const { cache, capacity } = deps;
  const background = new Set<Promise<unknown>>();
  const running = new Set<Promise<unknown>>();
  const abandons = new Set<(error: Error) => void>();
  const waiting: Array<(position: number) => void> = [];
  const draining = new AbortController();
  const shuttingDown = (): OverloadError => new OverloadError('PETCUT_E_SHUTTING_DOWN', 1);

  const track = (work: Promise<unknown>): void => {
    const guarded = work.catch((error: unknown) => deps.log('cache write failed', error));
    background.add(guarded);
    void guarded.finally(() => background.delete(guarded));
  };

  /** Runs engine work in admission order, reporting the queue position until a worker takes it. */
  const runAdmitted = async (request: ProcessRequest, run: (engine: Engine, onProgress: (e: ProgressEvent) => void) => Promise<ProcessResult>): Promise<ProcessResult> => {
    const engine = deps.engine.require();
    deps.storage?.require();
    const release = request.reservation ?? capacity.admit();
    const notify = (position: number): void => request.onStage?.({ stage: 'queued', position });
    const started = (): void => {
      const at = waiting.indexOf(notify);
      if (at < 0) return;
      waiting.splice(at, 1);
      waiting.forEach((other, i) => other(i + 1));
    };
    let began = 0;
    const admittedAt = performance.now();
    try {
      const result = run(engine, (event) => {
        if (!began) {
          deps.observer?.waited?.((performance.now() - admittedAt) / 1000);
          began = performance.now();
        }
        started();
        request.onStage?.(event);
      });
      // The pool queues synchronously: when it holds jobs now and ours has not begun, ours is the last of them.
      if (!began && engine.queued() > 0) {
        waiting.push(notify);
        notify(waiting.length);
      }
      const done = await result;
      // The engine's pace under the load it had: what admission predicts waits from.
      if (began) capacity.observe((performance.now() - began) / 1000);
      return done;
    } catch (error) {
      // A queued job dropped because the instance drains: its client retries on another instance.
      if (draining.signal.aborted && isPetcutError(error) && error.code === 'PETCUT_E_CLIENT_CLOSED') throw shuttingDown();
      throw error;
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

  /** The client's signal and the drain's: queued work is dropped by either. */
  const signalOf = (request: ProcessRequest): AbortSignal => (request.signal ? AbortSignal.any([request.signal, draining.signal]) : draining.signal);

  /** The work, unless the drain deadline abandons it first (the worker finishes on its own; its answer is dropped). */
  const abandonable = <T>(work: Promise<T>): Promise<T> => {
    let abandon!: (error: Error) => void;
    const abandoned = new Promise<never>((_resolve, reject) => (abandon = reject));
    abandons.add(abandon);
    return Promise.race([work, abandoned]).finally(() => abandons.delete(abandon));
  };

  return {
    async process(asked) {
      if (draining.signal.aborted) {
        asked.reservation?.();
        throw shuttingDown();
      }
      const started = performance.now();
      const watch = deps.observer?.begin?.(asked);
      const request = watch?.stage ? { ...asked, onStage: (event: StageEvent) => { watch.stage!(event); asked.onStage?.(event); } } : asked;
      const work = abandonable(processOnce(request));
      running.add(work);
      void work.catch(() => undefined).finally(() => running.delete(work));
      try {
        const outcome = await work;
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
    beginDrain: () => draining.abort(),
    async drain() {
      while (running.size > 0 || background.size > 0) await Promise.allSettled([...running, ...background]);
    },
    abandon() {
      for (const abandon of [...abandons]) abandon(shuttingDown());
    },
    queuePositions: () => waiting.length,
  };

  async function processOnce(request: ProcessRequest): Promise<ProcessOutcome> {
    const started = performance.now();
    deps.engine.require();
    request.onStage?.({ stage: 'cache' });
    const bytesKey = await cache.bytesKey(request.input);
    const { selection } = request;
    const alias = await cache.alias(bytesKey, selection).catch((error: unknown) => { deps.log('cache read failed', error); return undefined; });
    if (alias) {
      const cached = await Promise.all(request.outputs.map((spec) => cache.getRender(cache.renderKey(alias.pixelKey, spec)).catch(() => undefined)));
      if (cached.every((c) => c !== undefined)) {
        const outputs = cached.map((c, i) => ({ ...c, effect: request.outputs[i]!.effect ?? 'color', spec: request.outputs[i]! }));
        return { cache: 'hit', pixelKey: alias.pixelKey, outputs, facts: alias.facts, times: { total: performance.now() - started } };
      }
      const master = await cache.getMaster(alias.pixelKey).catch(() => undefined);
      if (master) {
        const result = await runAdmitted(request, (engine, onProgress) => engine.render(master.data, request.outputs, { onProgress, signal: signalOf(request) }));
        const outputs = toOutputs(result, request.outputs, alias.pixelKey);
        await storeRenders(outputs, request.storeRenders ?? false, request.onStage);
        return { cache: 'cutout', pixelKey: alias.pixelKey, outputs, facts: alias.facts, times: { ...result.times, total: performance.now() - started } };
      }
    }
    const result = await runAdmitted(request, (engine, onProgress) => engine.process(request.input, { ...segmentOptionsOf(selection), outputs: request.outputs, master: true }, { onProgress, signal: signalOf(request) }));
    const pixelKey = cache.pixelKey(result.pixelHash!, selection);
    const facts: SubjectFacts = boundedFacts({
      box: result.box, confidence: result.confidence, zoomed: result.zoomed, sourceWidth: result.sourceWidth, sourceHeight: result.sourceHeight,
      ...(result.subjects ? { subjects: result.subjects } : {}),
      ...(result.petFound !== undefined ? { petFound: result.petFound } : {}),
    });
    const outputs = toOutputs(result, request.outputs, pixelKey);
    // The master and the alias are only a speed-up: stored in the background, never awaited.
    if (result.master) {
      const master = Buffer.from(result.master.buffer, result.master.byteOffset, result.master.byteLength);
      track(Promise.all([cache.putMaster(pixelKey, master, facts), cache.saveAlias(bytesKey, { pixelKey, facts }, selection)]));
    }
    await storeRenders(outputs, request.storeRenders ?? false, request.onStage);
    return { cache: 'miss', pixelKey, outputs, facts, times: { ...result.times, total: performance.now() - started } };
  }
}
