import { readFile } from 'node:fs/promises';
import type { Engine, SegmentOptions, SegmentResult } from '../engine/index.js';
import { resizeMask, writeMaskPng } from '../image/masks.js';
import { makeDirs } from '../fsDirs.js';
import { basename, extname, join } from 'node:path';
import type { EvalPair } from './dataset.js';
import { readGroundTruth } from './maskReader.js';
import type { GroundTruth } from './maskReader.js';
import { boundaryF, iou, mae } from './metrics.js';
import type { EvalRow } from './summary.js';

/** A named list of image/mask pairs (one manifest, or one pair of folders). */
export interface EvalSet {
  readonly name: string;
  readonly pairs: readonly EvalPair[];
}

export interface EvaluateOptions {
  readonly segment: SegmentOptions;
  readonly ignoreValue?: number;
  /** Also write each predicted mask here (as <set>/<image>.png when there are several sets). */
  readonly save?: string;
  /** Called after each image is scored (the row, the photo file, the alpha and truth at the truth's size). */
  readonly onScored?: (row: EvalRow, photo: Buffer, alpha: Uint8Array, gt: GroundTruth) => Promise<void>;
  /** Checked before each image: true stops the run there (what is scored so far is returned). */
  readonly stopped?: () => boolean;
  /** Called after each image, scored or failed. */
  readonly onProgress?: (done: number, total: number, row: EvalRow | undefined) => void;
}

export interface EvalFailure { readonly set: string; readonly image: string; readonly message: string }

/** Cuts out every image of every set and scores it against its mask; a photo that fails is named and skipped. */
export async function evaluateSets(engine: Engine, sets: readonly EvalSet[], options: EvaluateOptions): Promise<{ rows: EvalRow[]; failures: EvalFailure[] }> {
  const rows: EvalRow[] = [];
  const failures: EvalFailure[] = [];
  const total = sets.reduce((n, set) => n + set.pairs.length, 0);
  let done = 0;
  for (const set of sets) {
    const save = options.save && sets.length > 1 ? join(options.save, set.name) : options.save;
    if (save) await makeDirs(save);
    for (const pair of set.pairs) {
      if (options.stopped?.()) return { rows, failures };
      let row: EvalRow | undefined;
      try {
        row = await scorePair(engine, set.name, pair, options, save);
        rows.push(row);
      } catch (error) {
        failures.push({ set: set.name, image: pair.image, message: (error as Error).message });
      }
      options.onProgress?.(++done, total, row);
    }
  }
  return { rows, failures };
}

async function scorePair(engine: Engine, set: string, pair: EvalPair, options: EvaluateOptions, save: string | undefined): Promise<EvalRow> {
  const gt = await readGroundTruth(pair.mask, { ignoreValue: options.ignoreValue });
  const photo = await readFile(pair.image);
  const started = performance.now();
  const segmentation = await engine.segment(photo, options.segment);
  const ms = performance.now() - started;
  let alpha = segmentation.alpha;
  if (segmentation.width !== gt.width || segmentation.height !== gt.height) {
    alpha = await resizeMask(segmentation.alpha, segmentation.width, segmentation.height, gt.width, gt.height);
  }
  if (save) await writeMaskPng(alpha, gt.width, gt.height, join(save, `${basename(pair.image, extname(pair.image))}.png`));
  const row: EvalRow = {
    set, image: pair.image, subject: pair.subject,
    iou: iou(alpha, gt), boundaryF: boundaryF(alpha, gt, gt.width, gt.height).f, mae: mae(alpha, gt),
    ms, confidence: segmentation.confidence, zoomed: segmentation.zoomed, ...engineFacts(segmentation),
  };
  await options.onScored?.(row, photo, alpha, gt);
  return row;
}

/** What pet finding reported, where the engine says (older engines and all-salient may not). */
function engineFacts(segmentation: SegmentResult): Pick<EvalRow, 'petFound' | 'found'> {
  const facts: Pick<EvalRow, 'petFound' | 'found'> = {};
  if (segmentation.petFound !== undefined) facts.petFound = segmentation.petFound;
  if (segmentation.subjects) {
    facts.found = segmentation.subjects.map((s) => `${s.label}:${s.score.toFixed(2)}:${s.kept ? 'kept' : 'dropped'}`).join(';');
  }
  return facts;
}
