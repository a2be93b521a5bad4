import type { Box } from '../image/types.js';

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
  /** The oriented photo's size. */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}
