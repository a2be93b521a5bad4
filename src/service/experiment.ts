import { createHash } from 'node:crypto';
import { SUBJECT_MODES } from '../engine/index.js';
import { DEFAULT_EFFECT, EFFECTS } from '../effects/registry.js';
import { PetcutError } from '../errors.js';

/**
 * The A/B experiment the widget runs (PETCUT_EXPERIMENT, docs/kpis.md):
 * `<name>:<variant>,<variant>[,...]`, one experiment at a time. What can be
 * tried is data: each kind names what its variants may be, so a typo fails
 * at start-up, never as a silent third arm. Variants are assigned per shopper
 * session by a hash of the experiment's name and the session id: the same
 * session gets the same variant on every instance and every visit, and the
 * split is even (the hash is uniform).
 */
export const EXPERIMENT_KINDS = {
  /** The print style the widget preselects. */
  'default-effect': { what: 'effect names', allowed: () => Object.keys(EFFECTS) },
  /** Which subjects the cut-out keeps (the `subjects` option). */
  'pet-finding': { what: 'subjects modes', allowed: () => SUBJECT_MODES.filter((mode) => mode !== 'point') },
} as const;
export type ExperimentName = keyof typeof EXPERIMENT_KINDS;

export interface Experiment {
  readonly name: ExperimentName;
  /** 2 to 4 distinct variants, in the configured order. */
  readonly variants: readonly string[];
}

// Each variant is a label value on three metrics: a handful keeps the series bounded.
const MAX_VARIANTS = 4;

/** Parses `name:a,b[,c,d]`; a bad value throws PETCUT_E_INVALID_CONFIG naming `variable` and what is allowed. */
export function parseExperiment(text: string | undefined, variable = 'PETCUT_EXPERIMENT'): Experiment | undefined {
  const value = text?.trim();
  if (!value || value === 'off') return undefined;
  const invalid = (why: string): never => {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: ${variable}: ${why} (e.g. ${variable}=default-effect:color,pencilsketch or pet-finding:pets,all-salient; "off" or unset: no experiment)`);
  };
  const match = /^([a-z-]+):(.+)$/.exec(value);
  if (!match) return invalid(`"${value}" must be <experiment>:<variant>,<variant>`);
  const name = match[1]!;
  if (!Object.hasOwn(EXPERIMENT_KINDS, name)) return invalid(`unknown experiment "${name}": use one of ${Object.keys(EXPERIMENT_KINDS).join(', ')}`);
  const kind = EXPERIMENT_KINDS[name as ExperimentName];
  const variants = match[2]!.split(',').map((variant) => variant.trim());
  const allowed: readonly string[] = kind.allowed();
  const unknown = variants.find((variant) => !allowed.includes(variant));
  if (unknown !== undefined) return invalid(`"${unknown}" is not a variant of ${name}: its variants are ${kind.what} (${allowed.join(', ')})`);
  if (new Set(variants).size !== variants.length) return invalid(`a variant is named twice in "${match[2]}"`);
  if (variants.length < 2 || variants.length > MAX_VARIANTS) return invalid(`give 2 to ${MAX_VARIANTS} variants, not ${variants.length}`);
  return Object.freeze({ name: name as ExperimentName, variants: Object.freeze(variants) });
}

/** The session's variant: sha256(name + ":" + session id), its first 4 bytes modulo the number of variants. */
export function assignVariant(experiment: Experiment, sessionId: string): string {
  const digest = createHash('sha256').update(`${experiment.name}:${sessionId}`).digest();
  return experiment.variants[digest.readUInt32BE(0) % experiment.variants.length]!;
}

/** What the widget starts with for a variant (or outside an experiment). */
export function widgetDefaults(experiment: Experiment | undefined, variant: string | undefined): { effect: string; subjects: string } {
  return {
    effect: experiment?.name === 'default-effect' && variant ? variant : DEFAULT_EFFECT,
    subjects: experiment?.name === 'pet-finding' && variant ? variant : 'pets',
  };
}
