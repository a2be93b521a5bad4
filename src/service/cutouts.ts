import type { OutputSpec } from '../engine/index.js';
import { formatOfContentType } from '../image/formats.js';
import type { StageEvent, WorkOrigin } from '../observability/work.js';
import { isPetcutError } from '../errors.js';
import type { StorageHealth } from '../storage/circuit.js';
import type { ObjectStore } from '../storage/store.js';
import type { ResultCache } from './cache.js';
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
  /**
   * A re-render of a photo already in `session` (`input` is its stored bytes): it is not stored
   * again, the outputs are stored beside it (their `source`).
   */
  readonly original?: SessionImage;
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

/**
 * `storage`: the store's circuit; an answer given while it is open is flagged degraded.
 * `cache`: where the stored original is linked to the upload's cut-out (see `link`).
 */
export function createCutouts(deps: { processing: Processing; sessions: Sessions; store: ObjectStore; storage?: StorageHealth; cache?: ResultCache }): Cutouts {
  const { processing, sessions, store } = deps;
  const storageDown = (): boolean => deps.storage?.up() === false;
  const degraded = (outcome: ProcessOutcome): ProcessOutcome => ({ ...outcome, degraded: 'storage' });

  /** Removes what was written for a cut-out that failed (best effort: a leftover expires with its tier). */
  const remove = async (images: readonly SessionImage[]): Promise<void> => {
    await Promise.allSettled(images.map((image) => store.delete(image.key)));
  };

  /**
   * The stored original is re-encoded (metadata dropped), so its bytes and even its pixels differ
   * from the upload's: its own alias points at the upload's cut-out (pixel key and facts), so a
   * re-render of it (another style, POST .../renders) starts from the cached master, not the
   * model. Only a speed-up: a failed write leaves the re-render to run the model.
   */
  const link = async (stored: Buffer, outcome: ProcessOutcome, selection: CutoutRequest['selection']): Promise<void> => {
    const { cache } = deps;
    if (!cache || !outcome.pixelKey) return;
    await cache.saveAlias(await cache.bytesKey(stored), { pixelKey: outcome.pixelKey, facts: outcome.facts }, selection).catch(() => undefined);
  };

  /** `owned`: the original was stored for this cut-out (removed with the outputs when one fails). */
  const publish = async (session: string, original: SessionImage, outputs: readonly ProcessedOutput[], owned = true): Promise<StoredOutput[]> => {
    const settled = await Promise.allSettled(outputs.map((output) => sessions.store(session, {
      data: output.data, contentType: output.contentType, extension: formatOfContentType(output.contentType)?.extension ?? 'bin',
      kind: 'cutout', effect: output.effect, source: original.id,
    })));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await remove([...(owned ? [original] : []), ...settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))]);
      throw failed.reason;
    }
    return settled.map((s, i) => ({ image: (s as PromiseFulfilledResult<SessionImage>).value, output: outputs[i]! }));
  };

  return {
    async cutOut(request) {
      const { session } = request;
      // The original is re-encoded on libuv threads while the model runs (a re-render's is stored already).
      const original = session && !request.original ? sessions.storeOriginalData(session, request.input) : undefined;
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
        if (stored) await remove([stored.image]);
        throw error;
      }
      if (!session || (!original && !request.original)) return { outcome: storageDown() ? degraded(outcome) : outcome };
      if (!storing) onStage({ stage: 'store' });
      try {
        if (request.original) return { outcome, stored: { original: request.original, outputs: await publish(session, request.original, outcome.outputs, false) } };
        const kept = await original!;
        await link(kept.data, outcome, request.selection);
        return { outcome, stored: { original: kept.image, outputs: await publish(session, kept.image, outcome.outputs) } };
      } catch (error) {
        if (!request.serveUnstored || outcome.cache !== 'hit' || !isPetcutError(error) || error.code !== 'PETCUT_E_STORAGE_UNAVAILABLE') throw error;
        return { outcome: degraded(outcome) };
      }
    },
  };
}
