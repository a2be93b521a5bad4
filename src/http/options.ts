import { z } from 'zod';
import { parseEffectList, resolveParams } from '../effects/registry.js';
import { EFFECT_NAME, PARAMETER_NAME } from '../effects/types.js';
import { invalidOption, PetcutError } from '../errors.js';
import { FORMAT_SPELLINGS, formatNamed, LOSSY_FORMATS_LABEL } from '../image/formats.js';
import { parseColour } from '../image/render.js';
import { SUBJECT_MODES } from '../engine/index.js';
import type { OutputSpec } from '../engine/index.js';
import { parseSelection } from '../service/selection.js';
import type { SubjectSelection } from '../service/selection.js';

/**
 * Output options, read the same way from the query string and from multipart
 * fields: every value arrives as text and is validated here once.
 */
const bool = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1' || v === '');

const OptionsSchema = z.strictObject({
  format: z.enum(FORMAT_SPELLINGS as [string, ...string[]]).transform((f) => formatNamed(f)!).optional(),
  quality: z.coerce.number().int().min(1).max(100).optional(),
  compression: z.coerce.number().int().min(0).max(9).optional(),
  size: z.union([z.enum(['full', 'preview']), z.coerce.number().int().min(1).max(16384)]).optional(),
  background: z.string().optional(),
  crop: bool.optional(),
  cropMargin: z.coerce.number().min(0).max(1).optional(),
  mask: bool.optional(),
  effects: z.string().optional(),
});

/** The JSON schema of the same options, for route validation and the OpenAPI document. */
export const OPTION_PROPERTIES = {
  format: { type: 'string', enum: FORMAT_SPELLINGS, default: 'png', description: 'Output format; Content-Type always matches the bytes.' },
  quality: { type: 'integer', minimum: 1, maximum: 100, default: 90, description: `${LOSSY_FORMATS_LABEL} quality.` },
  compression: { type: 'integer', minimum: 0, maximum: 9, default: 1, description: 'PNG zlib level (1 fastest, 9 smallest).' },
  size: { anyOf: [{ type: 'string', enum: ['full', 'preview'] }, { type: 'integer', minimum: 1, maximum: 16384 }], default: 'full', description: '"full", "preview" (long side 1024) or a long side in pixels; never upscales.' },
  background: { type: 'string', description: 'Hex colour (#rgb, #rrggbb, #rrggbbaa) or "transparent". JPEG defaults to white.' },
  crop: { type: 'string', enum: ['true', 'false', '1', '0', ''], description: 'Crop to the pet with a margin.' },
  cropMargin: { type: 'number', minimum: 0, maximum: 1, default: 0.05, description: 'Margin around the pet when cropping, as a share of its longer side.' },
  mask: { type: 'string', enum: ['true', 'false', '1', '0', ''], description: 'Return the alpha mask alone (grey image).' },
  effects: { type: 'string', description: 'Comma-separated print styles (GET /v1/effects); one output per effect. Default "color". Effect parameters as `<effect>.<parameter>=value`, e.g. `popart.levels=4`.' },
} as const;

/**
 * Segment options: which subjects the cut-out keeps. Apart from the output
 * options because they change the cut-out itself (and so its cache key), not
 * how it is rendered.
 */
export const SEGMENT_OPTION_PROPERTIES = {
  // No `default` keywords: route validation would fill them in, and `point` alone must still imply subjects=point.
  subjects: { type: 'string', enum: SUBJECT_MODES, description: 'Which subjects to keep: "pets" (default: every animal found), "largest-pet", "point" (the pet under `point`) or "all-salient" (what the cut-out model found, as before pet finding). Where no animal is found the saliency cut-out is returned with X-Petcut-Pet-Found: false.' },
  point: { type: 'string', maxLength: 64, description: 'The tap point "x,y" as shares (0..1) of the photo\'s width and height, e.g. "0.42,0.61" (rounded to 0.01); implies subjects=point, only with it.' },
  people: { type: 'string', enum: ['keep', 'drop', 'true', 'false', '1', '0', ''], description: 'Keep the people in the photo (owner-and-pet prints): keep|true|1; default drop.' },
} as const;

const SEGMENT_FIELDS = new Set(Object.keys(SEGMENT_OPTION_PROPERTIES));

export type OptionFields = Record<string, string | undefined>;

/** The segment options of a request (the other fields are left to parseOutputOptions). */
export const parseSegmentOptions = (fields: OptionFields): SubjectSelection => parseSelection(fields);

/** A cut-out request's options: what to keep (segment) and what to render (outputs). */
export function parseCutoutOptions(fields: OptionFields): { selection: SubjectSelection; outputs: OutputSpec[] } {
  const selection = parseSegmentOptions(fields);
  const rest = Object.fromEntries(Object.entries(fields).filter(([key]) => !SEGMENT_FIELDS.has(key)));
  return { selection, outputs: parseOutputOptions(rest) };
}

/** `<effect>.<parameter>` fields, e.g. `popart.levels=4`. */
const EFFECT_PARAM = new RegExp(`^(${EFFECT_NAME.source.slice(1, -1)})\\.(${PARAMETER_NAME.source.slice(1, -1)})$`);
export const EFFECT_PARAM_PATTERN = EFFECT_PARAM.source;

export function parseOutputOptions(fields: OptionFields): OutputSpec[] {
  const given = Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined);
  const effectFields = given.filter(([key]) => EFFECT_PARAM.test(key));
  const parsed = OptionsSchema.safeParse(Object.fromEntries(given.filter(([key]) => !EFFECT_PARAM.test(key))));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') throw new PetcutError('PETCUT_E_UNKNOWN_FIELD', `Unknown option "${issue.keys.join('", "')}": use ${[...Object.keys(OPTION_PROPERTIES), ...SEGMENT_FIELDS].join(', ')}.`);
    throw invalidOption(String(issue.path[0] ?? 'options'), issue.message);
  }
  const o = parsed.data;
  let background = o.background === 'transparent' || o.background === '' ? undefined : o.background;
  if (background !== undefined) {
    if (!background.startsWith('#')) background = `#${background}`;
    parseColour(background);
  }
  const base: OutputSpec = {
    format: o.format, quality: o.quality, pngCompression: o.compression, size: o.size, background,
    crop: o.crop, cropMargin: o.cropMargin, maskOnly: o.mask,
  };
  const clean = Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as OutputSpec;
  const effects = parseEffectList(o.effects);
  const paramsByEffect = new Map<string, Record<string, string>>();
  for (const [key, value] of effectFields) {
    const [, effect, name] = EFFECT_PARAM.exec(key)!;
    if (!effects.includes(effect!)) throw invalidOption(key, `sets a parameter of "${effect}", which is not among the asked effects (${effects.join(', ')})`);
    paramsByEffect.set(effect!, { ...paramsByEffect.get(effect!), [name!]: value });
  }
  return effects.map((effect) => {
    // Completed with defaults: the same look asked two ways shares one cache key.
    const effectParams = resolveParams(effect, paramsByEffect.get(effect));
    return Object.keys(effectParams).length ? { ...clean, effect, effectParams } : { ...clean, effect };
  });
}
