import { rgbPipeline } from './kit.js';
import type { Effect, EffectContext, EffectImage, EffectParams } from './types.js';

/**
 * Pop art (the first version's look): contrast x2.5 around 128, saturation x2,
 * luminance posterised into a few bands painted with flat palette colours,
 * strongly coloured pixels painted with the palette colour nearest in hue.
 * The output holds only palette colours; alpha is kept.
 */

/** Six colours each; the first is the darkest band (the "ink"). `classic` is the first version's. */
const PALETTES = {
  classic: ['#000000', '#8a2be2', '#00bfff', '#ff1493', '#32cd32', '#00ff7f'],
  warhol: ['#000000', '#e4007c', '#ffd100', '#00a6d6', '#ff6f00', '#7ed957'],
  comic: ['#000000', '#1e5aa8', '#d52b1e', '#f2c6a0', '#ffe600', '#ffffff'],
  neon: ['#000000', '#ff00ff', '#00ffff', '#ffff00', '#ff3131', '#39ff14'],
} as const satisfies Record<string, readonly string[]>;

export type PopArtPaletteName = keyof typeof PALETTES;

/** Output colour (after contrast and saturation) is "strongly coloured" above this chroma (max - min, 0..255). */
const STRONG_CHROMA = 150;
/** Palette colours with less chroma than this have no meaningful hue (black, white, greys) and are never hue targets. */
const HUELESS_CHROMA = 40;
/** Gaussian sigma at the 1024 px reference: takes out fur noise and JPEG specks so bands are flat areas, not confetti. */
const DENOISE_SIGMA = 1.2;

export const popArtEffect: Effect = {
  name: 'popart',
  label: 'Pop Art',
  description: 'Flat, loud colour bands in the style of screen-printed pop art.',
  parameters: {
    contrast: { type: 'number', default: 2.5, min: 1, max: 4, description: 'Contrast gain around mid-grey before the bands are cut.' },
    saturation: { type: 'number', default: 2, min: 0, max: 4, description: 'Saturation gain: more pixels are painted by hue.' },
    levels: { type: 'integer', default: 3, min: 2, max: 6, description: 'Number of luminance bands (the darkest is black).' },
    palette: { type: 'string', default: 'classic', values: Object.keys(PALETTES), description: 'The colour set: classic, warhol, comic or neon.' },
    adaptive: { type: 'boolean', default: true, description: 'Centre the contrast on the pet\'s own median brightness (else on mid-grey, as the first version did): dark and light coats keep their bands instead of turning into a black or pale silhouette.' },
  },
  apply: (image, params, context) => applyPopArt(image, params, context),
};

export function popArtPalette(name: string): number[] {
  const hexes: readonly string[] = PALETTES[name as PopArtPaletteName] ?? PALETTES.classic;
  return hexes.map((hex) => parseInt(hex.slice(1), 16));
}

async function applyPopArt(image: EffectImage, params: EffectParams, context: EffectContext): Promise<EffectImage> {
  const { width, height, alpha } = image;
  const sigma = DENOISE_SIGMA * context.scale;
  // libvips blurs in one tiled pass; below 0.3 px a blur does nothing useful (previews).
  const smooth = sigma < 0.3 ? image.rgb : await rgbPipeline(image).blur(sigma).raw().toBuffer();
  const tables = mappingTables(popArtPalette(String(params.palette)), Number(params.levels));
  const rgb = Buffer.allocUnsafe(width * height * 3);
  const pivot = params.adaptive === true ? medianLuma(smooth, alpha) : 128;
  paintPopArt(smooth, alpha, rgb, Number(params.contrast), Number(params.saturation), tables, pivot);
  return { width, height, rgb, alpha };
}

/** Median luma of the opaque pixels (a 256-bin histogram), kept within 40..216 so a near-black or near-white coat is not stretched into noise. */
function medianLuma(rgb: Buffer, alpha: Uint8Array): number {
  const histogram = new Uint32Array(256);
  let count = 0;
  for (let i = 0, j = 0; i < alpha.length; i++, j += 3) {
    if (alpha[i]! < 128) continue;
    histogram[(77 * rgb[j]! + 150 * rgb[j + 1]! + 29 * rgb[j + 2]!) >> 8]!++;
    count++;
  }
  if (count === 0) return 128;
  let seen = 0;
  for (let v = 0; v < 256; v++) {
    seen += histogram[v]!;
    if (seen * 2 >= count) return Math.max(40, Math.min(216, v));
  }
  return 128;
}

interface MappingTables {
  /** Palette colours, 3 bytes each. */
  readonly colours: Uint8Array;
  /** Luminance band -> palette index. */
  readonly bands: Uint8Array;
  /** Hue in whole degrees -> palette index of the nearest hued colour (0 = none). */
  readonly hues: Uint8Array;
}

const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

/** Hue in degrees (0..360) of an RGB colour with chroma max - min > 0. */
function hueOf(r: number, g: number, b: number, max: number, chroma: number): number {
  const h = max === r ? (g - b) / chroma : max === g ? (b - r) / chroma + 2 : (r - g) / chroma + 4;
  return h < 0 ? h * 60 + 360 : h * 60;
}

/**
 * Bands: band 0 is the palette's first colour (black); the other bands take
 * the remaining colours in order of luminance, spread evenly, so more levels
 * means more colours and a light pixel stays a light colour.
 */
function mappingTables(palette: number[], levels: number): MappingTables {
  const colours = new Uint8Array(palette.length * 3);
  palette.forEach((c, i) => colours.set([c >> 16, (c >> 8) & 255, c & 255], i * 3));
  const rgbAt = (i: number): [number, number, number] => [colours[i * 3]!, colours[i * 3 + 1]!, colours[i * 3 + 2]!];
  const ramp = palette.map((_, i) => i).slice(1).sort((a, b) => luma(...rgbAt(a)) - luma(...rgbAt(b)) || a - b);
  const bands = new Uint8Array(levels);
  for (let k = 1; k < levels; k++) {
    bands[k] = ramp[levels === 2 ? ramp.length - 1 : Math.round(((k - 1) * (ramp.length - 1)) / (levels - 2))]!;
  }
  return { colours, bands, hues: hueTable(ramp.map((index) => ({ index, rgb: rgbAt(index) }))) };
}

/** Whole degree -> the hued palette colour nearest in hue (circular distance). */
function hueTable(candidates: { index: number; rgb: [number, number, number] }[]): Uint8Array {
  const hued = candidates.flatMap(({ index, rgb: [r, g, b] }) => {
    const max = Math.max(r, g, b), chroma = max - Math.min(r, g, b);
    return chroma >= HUELESS_CHROMA ? [{ index, hue: hueOf(r, g, b, max, chroma) }] : [];
  });
  const hues = new Uint8Array(360);
  for (let deg = 0; deg < 360; deg++) {
    let best = 0, bestDistance = Infinity;
    for (const { index, hue } of hued) {
      const d = Math.abs(deg + 0.5 - hue);
      const distance = Math.min(d, 360 - d);
      if (distance < bestDistance) { bestDistance = distance; best = index; }
    }
    hues[deg] = best;
  }
  return hues;
}

/** One pass: contrast, saturation, then band or hue -> palette colour. Transparent pixels become 0. */
function paintPopArt(src: Buffer, alpha: Uint8Array, out: Buffer, contrast: number, saturation: number, tables: MappingTables, pivot: number): void {
  const { colours, bands, hues } = tables;
  const levels = bands.length;
  // Contrast as a table (one lookup a channel), moving the pivot to mid-grey.
  const gain = new Uint8Array(256);
  for (let v = 0; v < 256; v++) gain[v] = Math.max(0, Math.min(255, Math.round(128 + contrast * (v - pivot))));
  for (let i = 0, j = 0; i < alpha.length; i++, j += 3) {
    if (alpha[i] === 0) { out[j] = 0; out[j + 1] = 0; out[j + 2] = 0; continue; }
    let r = gain[src[j]!]!, g = gain[src[j + 1]!]!, b = gain[src[j + 2]!]!;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    r = y + saturation * (r - y); g = y + saturation * (g - y); b = y + saturation * (b - y);
    r = r < 0 ? 0 : r > 255 ? 255 : r;
    g = g < 0 ? 0 : g > 255 ? 255 : g;
    b = b < 0 ? 0 : b > 255 ? 255 : b;
    const band = Math.min(levels - 1, Math.floor(((0.299 * r + 0.587 * g + 0.114 * b) * levels) / 256));
    const max = r > g ? (r > b ? r : b) : g > b ? g : b;
    const chroma = max - (r < g ? (r < b ? r : b) : g < b ? g : b);
    let index = bands[band]!;
    if (band > 0 && chroma >= STRONG_CHROMA) {
      const hued = hues[Math.min(359, Math.floor(hueOf(r, g, b, max, chroma)))]!;
      if (hued !== 0) index = hued;
    }
    out[j] = colours[index * 3]!;
    out[j + 1] = colours[index * 3 + 1]!;
    out[j + 2] = colours[index * 3 + 2]!;
  }
}
