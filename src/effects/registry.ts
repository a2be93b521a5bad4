import { invalidOption, PetcutError } from '../errors.js';
import { colorEffect } from './color.js';
import { ditheringEffect } from './dithering.js';
import { duotoneEffect } from './duotone.js';
import { halftoneEffect } from './halftone.js';
import { pencilSketchEffect } from './pencilSketch.js';
import { enhancedBlackWhiteEffect } from './enhancedBlackWhite.js';
import { popArtEffect } from './popArt.js';
import { retro8bitEffect } from './retro8bit.js';
import { EFFECT_NAME, PARAMETER_NAME } from './types.js';
import type { Effect, EffectParameter, EffectParams, ParamValue } from './types.js';

/** Every print style, by name. Adding one: a file in src/effects/ and a line here (see CONTRIBUTING.md). */
export const EFFECTS: Readonly<Record<string, Effect>> = Object.fromEntries([
  colorEffect,
  enhancedBlackWhiteEffect,
  popArtEffect,
  ditheringEffect,
  retro8bitEffect,
  pencilSketchEffect,
  halftoneEffect,
  duotoneEffect,
].map((effect) => [checkedName(effect).name, effect]));

/** A misnamed effect could be listed but never given parameters: refuse it when the registry loads. */
function checkedName(effect: Effect): Effect {
  if (!EFFECT_NAME.test(effect.name)) throw new Error(`Effect name "${effect.name}" must match ${EFFECT_NAME} (it prefixes <effect>.<parameter> fields).`);
  const bad = Object.keys(effect.parameters).find((name) => !PARAMETER_NAME.test(name));
  if (bad !== undefined) throw new Error(`Effect "${effect.name}": parameter name "${bad}" must match ${PARAMETER_NAME}.`);
  return effect;
}

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

const HEX = /^#?(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;

/** One parameter from text (query, form field, CLI) or a JSON value, checked against its declaration. */
function parseParam(effect: string, name: string, spec: EffectParameter, raw: ParamValue): ParamValue {
  const label = `${effect}.${name}`;
  const range = spec.min !== undefined && spec.max !== undefined ? ` from ${spec.min} to ${spec.max}` : '';
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (['true', '1'].includes(String(raw))) return true;
      if (['false', '0'].includes(String(raw))) return false;
      throw invalidOption(label, `must be true or false, got "${raw}"`);
    }
    case 'number':
    case 'integer': {
      const value = typeof raw === 'number' ? raw : String(raw).trim() === '' ? NaN : Number(raw);
      const ok = Number.isFinite(value) && (spec.type === 'number' || Number.isInteger(value))
        && (spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max);
      if (!ok) throw invalidOption(label, `must be ${spec.type === 'integer' ? 'an integer' : 'a number'}${range}, got "${raw}"`);
      return value;
    }
    case 'string': {
      const value = String(raw);
      if (spec.colour) {
        if (!HEX.test(value)) throw invalidOption(label, `must be a hex colour like #1a2b3c, got "${value}"`);
        return value.startsWith('#') ? value.toLowerCase() : `#${value.toLowerCase()}`;
      }
      if (spec.values && !spec.values.includes(value)) throw invalidOption(label, `must be one of ${spec.values.join(', ')}, got "${value}"`);
      return value;
    }
  }
}

/**
 * The full parameter set of an effect: given values checked (unknown names
 * and out-of-range values are 400s naming the parameter and its range),
 * the rest from the defaults. The result is canonical, so it can key the cache.
 */
export function resolveParams(effectName: string, given: Readonly<Record<string, ParamValue>> = {}): EffectParams {
  const effect = getEffect(effectName);
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(effect.parameters, name)) {
      const known = Object.keys(effect.parameters);
      throw invalidOption(`${effectName}.${name}`, known.length ? `unknown parameter: ${effectName} takes ${known.join(', ')}` : `${effectName} takes no parameters`);
    }
  }
  return Object.fromEntries(Object.entries(effect.parameters).map(([name, spec]) =>
    [name, given[name] === undefined ? spec.default : parseParam(effectName, name, spec, given[name])]));
}
