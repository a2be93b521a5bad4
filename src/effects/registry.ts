import { PetcutError } from '../errors.js';
import { colorEffect } from './color.js';
import type { Effect } from './types.js';

export const EFFECTS: Readonly<Record<string, Effect>> = {
  color: colorEffect,
};

export const DEFAULT_EFFECT = 'color';

export function getEffect(name: string): Effect {
  const effect = Object.hasOwn(EFFECTS, name) ? EFFECTS[name] : undefined;
  if (!effect) throw new PetcutError('PETCUT_E_UNKNOWN_EFFECT', `Unknown effect "${name}": use one of ${Object.keys(EFFECTS).join(', ')}.`);
  return effect;
}

/** Parses "a,b" or a list into known effect names (deduplicated, order kept). */
export function parseEffectList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined || value === '') return [DEFAULT_EFFECT];
  const names = (typeof value === 'string' ? value.split(',') : value.flatMap((v) => v.split(','))).map((n) => n.trim().toLowerCase()).filter(Boolean);
  for (const name of names) getEffect(name);
  return names.length === 0 ? [DEFAULT_EFFECT] : [...new Set(names)];
}
