import { hexToRgb } from './kit.js';
import type { Effect, EffectImage, EffectParams } from './types.js';

/**
 * Duotone: a two-ink print. Luma is levelled to the pet's own tonal range
 * (so a pale dog still reaches the dark ink), bent by an S-curve, and mapped
 * onto the straight line from the `dark` to the `light` colour: every output
 * pixel is a mix of the two inks and nothing else.
 */
export const duotoneEffect: Effect = {
  name: 'duotone',
  label: 'Duotone',
  description: 'Your pet in two inks, deep shadows to soft highlights, like a vintage two-colour print.',
  parameters: {
    dark: { type: 'string', colour: true, default: '#2b1a10', description: 'Ink for the shadows (hex colour).' },
    light: { type: 'string', colour: true, default: '#f3e3c3', description: 'Ink for the highlights (hex colour).' },
    contrast: { type: 'number', min: 0.5, max: 2, default: 1.2, description: 'Tone-curve steepness: below 1 softer, above 1 punchier.' },
  },
  apply: (image, params) => Promise.resolve(applyDuotone(image, params)),
};

/** Luma on a 10-bit scale (weights sum to 1024, so 0..1020): finer steps than 8-bit before the levels stretch. */
const LEVELS = 1024;
/** Share of the pet's pixels allowed to clip at each end of the levels stretch: ignores specks (eye glints, dust). */
const CLIP_SHARE = 0.005;
/** The levels stretch never widens less than this span of luma: a flat grey pet is not blown up into noise. */
const MIN_SPAN = 0.25;

export function applyDuotone(image: EffectImage, params: EffectParams): EffectImage {
  const dark = hexToRgb(String(params.dark));
  const light = hexToRgb(String(params.light));
  const contrast = Number(params.contrast);
  const { rgb, alpha } = image;
  const n = image.width * image.height;

  const luma = new Uint16Array(n);
  const histogram = new Uint32Array(LEVELS);
  let counted = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const l = (rgb[j]! * 306 + rgb[j + 1]! * 601 + rgb[j + 2]! * 117) >> 8;
    luma[i] = l;
    if (alpha[i]! >= 128) { histogram[l]!++; counted++; }
  }
  const [lo, hi] = levelsOf(histogram, counted);

  // One table from luma to the three channels: the loop below only looks up.
  const tr = new Uint8Array(LEVELS), tg = new Uint8Array(LEVELS), tb = new Uint8Array(LEVELS);
  for (let l = 0; l < LEVELS; l++) {
    const t = sCurve(Math.min(1, Math.max(0, (l - lo) / (hi - lo))), contrast);
    tr[l] = Math.round(dark[0] + (light[0] - dark[0]) * t);
    tg[l] = Math.round(dark[1] + (light[1] - dark[1]) * t);
    tb[l] = Math.round(dark[2] + (light[2] - dark[2]) * t);
  }
  const out = Buffer.allocUnsafe(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const l = luma[i]!;
    out[j] = tr[l]!;
    out[j + 1] = tg[l]!;
    out[j + 2] = tb[l]!;
  }
  return { width: image.width, height: image.height, rgb: out, alpha };
}

/** Low and high luma levels (10-bit) of the pet, clipping CLIP_SHARE at each end, at least MIN_SPAN apart. */
function levelsOf(histogram: Uint32Array, counted: number): [number, number] {
  if (counted === 0) return [0, LEVELS - 1];
  const clip = counted * CLIP_SHARE;
  let lo = 0, hi = LEVELS - 1;
  for (let seen = 0; lo < LEVELS - 1 && seen + histogram[lo]! <= clip; lo++) seen += histogram[lo]!;
  for (let seen = 0; hi > 0 && seen + histogram[hi]! <= clip; hi--) seen += histogram[hi]!;
  const minSpan = MIN_SPAN * (LEVELS - 1);
  if (hi - lo < minSpan) {
    const mid = (lo + hi) / 2;
    lo = Math.max(0, mid - minSpan / 2);
    hi = Math.min(LEVELS - 1, lo + minSpan);
    lo = hi - minSpan;
  }
  return [lo, hi];
}

/** An S-curve through (0,0), (0.5,0.5), (1,1) with slope `k` at the middle; k = 1 is the identity. */
function sCurve(t: number, k: number): number {
  const a = t ** k;
  const b = (1 - t) ** k;
  return a + b === 0 ? t : a / (a + b);
}

