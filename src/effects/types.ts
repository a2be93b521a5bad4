import type { Planes } from '../image/types.js';

/**
 * A print style applied to the cut-out. Effects are data in the registry
 * (`registry.ts`): adding one is one file plus one registry line.
 */
/** The cut-out's planes (src/image/types.ts); effects keep the alpha unless they say otherwise. */
export type EffectImage = Planes;

export type ParamValue = number | boolean | string;
export type EffectParams = Readonly<Record<string, ParamValue>>;

export interface EffectParameter {
  readonly type: 'number' | 'integer' | 'boolean' | 'string';
  readonly default: ParamValue;
  readonly min?: number;
  readonly max?: number;
  /** For strings: the allowed values (a hex colour parameter says so with `colour: true`). */
  readonly values?: readonly string[];
  readonly colour?: boolean;
  readonly description: string;
}

export interface EffectContext {
  /**
   * Deterministic seed for grain and noise, derived from the image itself:
   * the same photo and parameters give byte-identical output.
   */
  readonly seed: number;
  /**
   * Image size relative to the 1024 px reference the constants were tuned at
   * (long side / 1024): sizes in pixels scale by it, so a preview and the
   * full-resolution print look the same.
   */
  readonly scale: number;
}

/**
 * An effect's name: lower-case letters and digits, because it prefixes its
 * parameters in `<effect>.<parameter>=` fields and names are matched
 * lower-cased. Parameter names: letters and digits.
 */
export const EFFECT_NAME = /^[a-z0-9]+$/;
export const PARAMETER_NAME = /^[A-Za-z0-9]+$/;

export interface Effect {
  /** `EFFECT_NAME`; the registry refuses any other at load. */
  readonly name: string;
  /** Shown in the style picker. */
  readonly label: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, EffectParameter>>;
  /**
   * Runs in a pipeline worker, never on the main thread. Gets parameters
   * already validated and completed with defaults. Returns the styled RGB
   * (and alpha, unchanged unless the style says otherwise); pixels where
   * alpha is 0 do not matter.
   */
  apply(image: EffectImage, params: EffectParams, context: EffectContext): Promise<EffectImage>;
}
