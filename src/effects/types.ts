/**
 * A print style applied to the cut-out. Effects are data in the registry
 * (`registry.ts`): adding one is one file plus one registry line.
 */
export interface EffectImage {
  readonly width: number;
  readonly height: number;
  /** RGB, 3 bytes a pixel: the cut-out's colours (zero where transparent). */
  readonly rgb: Buffer;
  /** 0..255; effects keep it unless they say otherwise. */
  readonly alpha: Uint8Array;
}

export interface EffectParameter {
  readonly type: 'number' | 'integer' | 'boolean' | 'string';
  readonly default: number | boolean | string;
  readonly min?: number;
  readonly max?: number;
  readonly description: string;
}

export interface Effect {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, EffectParameter>>;
  /** Runs in a pipeline worker, never on the main thread. Deterministic for the same input and parameters. */
  apply(image: EffectImage, params: Readonly<Record<string, number | boolean | string>>): Promise<EffectImage>;
}
