import type { Box } from '../image/types.js';

/**
 * Which of the salient things in a photo the cut-out keeps (`subjects` over
 * HTTP, `--subjects` in the CLI):
 * - `pets` (default): every animal found (two dogs on one print), nothing else;
 * - `largest-pet`: the largest animal only;
 * - `point`: the animal under the tap point (`point`/`hint`), else the salient region there;
 * - `all-salient`: what the cut-out model found, as before pet finding (the main region and those near it).
 * Where no animal is found, every mode but `all-salient` falls back to it and says `petFound: false`.
 */
export const SUBJECT_MODES = ['pets', 'largest-pet', 'point', 'all-salient'] as const;
export type SubjectMode = (typeof SUBJECT_MODES)[number];

/** One thing the class models found: a pet, or a person or piece of furniture beside it. */
export interface FoundSubject {
  /** COCO class name: cat, dog, bird, horse, sheep, cow, ..., person, couch, potted plant, ... */
  readonly label: string;
  /** Detector score, 0..1. */
  readonly score: number;
  /** At the source's resolution (after EXIF orientation). */
  readonly box: Box;
  /** Whether it is in the cut-out. */
  readonly kept: boolean;
}

/**
 * What a segmentation found, as the engine reports it and the service keeps
 * it: one declaration for the pipeline's summaries, the cache's facts and the
 * responses' headers.
 */
export interface SubjectFacts {
  /** Foreground box at the source's resolution (alpha >= 50 %), null when no subject was found. */
  readonly box: Box | null;
  /** 1 - share of the subject whose alpha is uncertain. */
  readonly confidence: number;
  /** Whether the model ran a second time on the subject's crop. */
  readonly zoomed: boolean;
  /**
   * What the class models found (animals first, then people and furniture near
   * them); absent on entries made before pet finding or with pet finding off.
   */
  readonly subjects?: readonly FoundSubject[];
  /**
   * false: no animal was found, and the cut-out is the saliency one (flagged so
   * the storefront can ask the shopper to check or tap the pet). Absent for `all-salient`.
   */
  readonly petFound?: boolean;
  /** The oriented photo's size. */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}
