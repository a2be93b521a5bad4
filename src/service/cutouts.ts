import type { OutputSpec } from '../engine/index.js';
import { formatOfContentType } from '../image/formats.js';
import type { StageEvent, WorkOrigin } from '../observability/work.js';
import { isPetcutError } from '../errors.js';
import type { StorageHealth } from '../storage/circuit.js';
import type { ObjectStore } from '../storage/store.js';
import type { ProcessedOutput, Processing, ProcessOutcome } from './processing.js';
import type { SubjectSelection } from './selection.js';
import type { SessionImage, Sessions } from './sessions.js';

/**
 * The use case every cut-out route and job runs: "cut out this upload for
 * this origin, keep what was asked". With a session, the original is stored
 * (re-encoded without metadata, beside the model run) and each output is
 * stored next to it, all or nothing: when anything fails, what was written is
 * removed, so a session never shows half a result. Without one, the renders
 * can be kept in the result cache so their content links can be handed out.
 * Routes parse, authorise, call this, and turn what it returns into replies.
 */
export interface CutoutRequest {
  readonly input: Buffer;
  readonly outputs: readonly OutputSpec[];
  /** Which subjects to keep (default: every pet, people dropped). */
  readonly selection?: SubjectSelection;
  readonly origin?: WorkOrigin;
  /** Store the original and the outputs in this (checked) session. */
  readonly session?: string;
  /** Keep the renders in the result cache before returning (their content links will be handed out). */
  readonly keepRenders?: boolean;
  /** Aborts the work while it still waits for a worker (the client left). */
  readonly signal?: AbortSignal;
  /** The image's capacity slot, taken before the upload was read; released when the engine is done. */
  readonly reservation?: () => void;
  readonly onStage?: (event: StageEvent) => void;
  /**
   * A synchronous answer that may go out without its session copy: when storage is down, a full
   * cache hit is answered, flagged degraded, without `stored`. Work that ran the model still fails
   * with the 503 (its client retries and finds it in the cache). Jobs leave it off: their results
   * live only in the store.
   */
  readonly serveUnstored?: boolean;
}

/** One output as stored in the session. */
export interface StoredOutput {
  readonly image: SessionImage;
  readonly output: ProcessedOutput;
}

export interface CutoutResult {
  readonly outcome: ProcessOutcome;
  /** With a session: the stored original and one stored image per output, in the asked order. */
  readonly stored?: { readonly original: SessionImage; readonly outputs: readonly StoredOutput[] };
}

export interface Cutouts {
  cutOut(request: CutoutRequest): Promise<CutoutResult>;
}

/** `storage`: the store's circuit; an answer given while it is open is flagged degraded. */
export function createCutouts(deps: { processing: Processing; sessions: Sessions; store: ObjectStore; storage?: StorageHealth }): Cutouts {
  const { processing, sessions, store } = deps;
  const storageDown = (): boolean => deps.storage?.up() === false;
  const degraded = (outcome: ProcessOutcome): ProcessOutcome => ({ ...outcome, degraded: 'storage' });

  /** Removes what was written for a cut-out that failed (best effort: a leftover expires with its tier). */
  const remove = async (images: readonly SessionImage[]): Promise<void> => {
    await Promise.allSettled(images.map((image) => store.delete(image.key)));
  };

  const publish = async (session: string, original: SessionImage, outputs: readonly ProcessedOutput[]): Promise<StoredOutput[]> => {
    const settled = await Promise.allSettled(outputs.map((output) => sessions.store(session, {
      data: output.data, contentType: output.contentType, extension: formatOfContentType(output.contentType)?.extension ?? 'bin',
      kind: 'cutout', effect: output.effect, source: original.id,
    })));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await remove([original, ...settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))]);
      throw failed.reason;
    }
    return settled.map((s, i) => ({ image: (s as PromiseFulfilledResult<SessionImage>).value, output: outputs[i]! }));
  };

  return {
    async cutOut(request) {
      const { session } = request;
      // The original is re-encoded on libuv threads while the model runs.
      const original = session ? sessions.storeOriginal(session, request.input) : undefined;
      original?.catch(() => undefined);
      // One `store` stage per cut-out: processing's (renders to the cache), or this one's (the session's copies).
      let storing = false;
      const onStage = (event: StageEvent): void => {
        storing ||= event.stage === 'store';
        request.onStage?.(event);
      };
      let outcome: ProcessOutcome;
      try {
        outcome = await processing.process({
          input: request.input, outputs: request.outputs, selection: request.selection, origin: request.origin, signal: request.signal,
          reservation: request.reservation, onStage, storeRenders: request.keepRenders,
        });
      } catch (error) {
        const stored = await original?.catch(() => undefined);
        if (stored) await remove([stored]);
        throw error;
      }
      if (!session || !original) return { outcome: storageDown() ? degraded(outcome) : outcome };
      if (!storing) onStage({ stage: 'store' });
      try {
        const kept = await original;
        return { outcome, stored: { original: kept, outputs: await publish(session, kept, outcome.outputs) } };
      } catch (error) {
        if (!request.serveUnstored || outcome.cache !== 'hit' || !isPetcutError(error) || error.code !== 'PETCUT_E_STORAGE_UNAVAILABLE') throw error;
        return { outcome: degraded(outcome) };
      }
    },
  };
}
