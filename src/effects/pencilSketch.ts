import sharp from 'sharp';
import { blurGrey, greyOnPaper, seededRandom } from './kit.js';
import type { Effect, EffectContext, EffectImage, EffectParams } from './types.js';

/**
 * Pencil sketch: the classic colour-dodge of the grey image with its blurred
 * inverse (flat areas go to paper white, anything darker than its
 * surroundings stays as a stroke), graphite shading from the grey image,
 * contour lines from a difference of Gaussians, and a seeded paper grain.
 * Blurs run in libvips on 8-bit planes; the rest is two typed-array passes.
 */
export const pencilSketchEffect: Effect = {
  name: 'pencilsketch',
  label: 'Pencil Sketch',
  description: 'A hand-drawn graphite portrait of your pet on white paper.',
  parameters: {
    strength: { type: 'number', min: 0, max: 1, default: 0.5, description: 'Graphite shading: 0 is lines only, 1 shades the dark fur fully.' },
    lineWeight: { type: 'number', min: 0.5, max: 3, default: 1, description: 'Thickness and darkness of the contour lines.' },
    paperGrain: { type: 'number', min: 0, max: 0.2, default: 0.06, description: 'Texture of the paper showing through the graphite.' },
  },
  apply: (image, params, context) => applyPencilSketch(image, params, context),
};

/** Dodge blur at the 1024 px reference: wide enough that fur strands become strokes, not mush. */
const DODGE_SIGMA = 8;
/** Contour scale at the reference (the DoG's inner sigma; the outer one is 1.6x, the usual DoG ratio). */
const LINE_SIGMA = 1.2;
/**
 * Added to both sides of the dodge ratio (8-bit units): the pure ratio g / blur(g)
 * turns sensor noise in black fur into glitter, this keeps dark fur as soft strokes.
 */
const DODGE_FLOOR = 24;
/** DoG steps (8-bit) below this are fur texture, left to the dodge; above it they are contours. */
const LINE_THRESHOLD = 3;

export async function applyPencilSketch(image: EffectImage, params: EffectParams, context: EffectContext): Promise<EffectImage> {
  const { width, height, alpha } = image;
  const strength = Number(params.strength);
  const lineWeight = Number(params.lineWeight);
  const grain = Number(params.paperGrain);
  const grey = greyOnPaper(image);
  const lineSigma = LINE_SIGMA * lineWeight * context.scale;
  const [dodgeBlur, inner, outer, paper] = await Promise.all([
    blurGrey(grey, width, height, DODGE_SIGMA * context.scale),
    blurGrey(grey, width, height, lineSigma),
    blurGrey(grey, width, height, lineSigma * 1.6),
    paperTextures(width, height, context),
  ]);

  // Contour darkness per 8-bit DoG step: heavier lines both darker and (via the sigmas above) wider.
  const lineGain = 0.06 * Math.sqrt(lineWeight);
  const shading = strength * 0.6;
  // The textures live on the reference grid: bilinear lookups, with the column half precomputed once.
  const { columns, rows, hatch, grain: noise } = paper;
  const sx = columns / width, sy = rows / height;
  const x0s = new Int32Array(width), wxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(columns - 1, Math.max(0, (x + 0.5) * sx - 0.5));
    x0s[x] = Math.min(columns - 2, Math.floor(fx));
    wxs[x] = fx - x0s[x]!;
  }
  const out = Buffer.allocUnsafe(width * height * 3);
  for (let y = 0, i = 0; y < height; y++) {
    const fy = Math.min(rows - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.min(rows - 2, Math.floor(fy));
    const row0 = y0 * columns, wy = fy - y0;
    for (let x = 0; x < width; x++, i++) {
      const k = row0 + x0s[x]!, wx = wxs[x]!;
      const h0 = hatch[k]! + (hatch[k + 1]! - hatch[k]!) * wx, h1 = hatch[k + columns]! + (hatch[k + columns + 1]! - hatch[k + columns]!) * wx;
      const n0 = noise[k]! + (noise[k + 1]! - noise[k]!) * wx, n1 = noise[k + columns]! + (noise[k + columns + 1]! - noise[k + columns]!) * wx;
      const g = grey[i]!;
      let v = Math.min(1, (g + DODGE_FLOOR) / (dodgeBlur[i]! + DODGE_FLOOR));
      // Graphite shading along the strokes: darker fur gets more pencil.
      const gn = g / 255;
      v *= 1 - shading * (1 - gn) * (1 - gn * 0.5) * (0.4 + (1.2 / 255) * (h0 + (h1 - h0) * wy));
      // DoG: positive where a pixel is darker than its wider neighbourhood (the dark side of an edge).
      const dog = outer[i]! - inner[i]! - LINE_THRESHOLD;
      if (dog > 0) v *= Math.max(0, 1 - dog * lineGain);
      v *= 1 - (grain / 255) * (n0 + (n1 - n0) * wy) * (0.6 + 0.4 * v);
      const b = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
      const j = i * 3;
      out[j] = b;
      out[j + 1] = b;
      out[j + 2] = b;
    }
  }
  return { width, height, rgb: out, alpha };
}



/**
 * Seeded textures on the 1024 px reference grid (at most the image's own
 * size), read bilinearly by the main loop: the grain is the same size on a
 * preview and on the print, and no full-size texture is ever made.
 */
interface Textures {
  readonly columns: number;
  readonly rows: number;
  /** Paper grain, 0..255 (fibres, not single-pixel static). */
  readonly grain: Uint8Array;
  /** Diagonal pencil strokes, 0..255: the shading is laid down along them. */
  readonly hatch: Uint8Array;
}

/** Stroke length at the reference size (pixels). */
const HATCH_LENGTH = 13;

/** Both textures from one seeded noise field, shaped by libvips (a blur, a diagonal line kernel) and stretched to full range. */
async function paperTextures(width: number, height: number, context: EffectContext): Promise<Textures> {
  const shrink = Math.max(1, context.scale);
  const columns = Math.max(2, Math.round(width / shrink));
  const rows = Math.max(2, Math.round(height / shrink));
  const random = seededRandom(context.seed);
  const noise = Buffer.allocUnsafe(columns * rows);
  for (let i = 0; i < noise.length; i++) noise[i] = (random() * 256) | 0;
  // Below the reference size the grid is the image itself: shorten the strokes with it.
  const length = Math.max(3, Math.round(HATCH_LENGTH * Math.min(1, context.scale)) | 1);
  // '/' strokes, the way a right hand shades.
  const diagonal = Array.from({ length: length * length }, (_, k) => (k > 0 && k < length * length - 1 && k % (length - 1) === 0 ? 1 : 0));
  const shaped = async (p: sharp.Sharp): Promise<Uint8Array> => stretchLevels(asBytes(await p
    .toColourspace('b-w') // libvips hands one-band raw input back as sRGB otherwise
    .raw().toBuffer()));
  const field = (): sharp.Sharp => sharp(noise, { raw: { width: columns, height: rows, channels: 1 } });
  const [grain, hatch] = await Promise.all([
    shaped(field().blur(0.6)),
    shaped(field().convolve({ width: length, height: length, kernel: diagonal })),
  ]);
  return { columns, rows, grain, hatch };
}

/**
 * Levels stretch in place, 1st to 99th percentile to 0..255 (sharp's
 * normalise() goes through LAB and costs ~20x more on a texture this size).
 */
function stretchLevels(plane: Uint8Array): Uint8Array {
  const histogram = new Uint32Array(256);
  for (let i = 0; i < plane.length; i++) histogram[plane[i]!]!++;
  const clip = plane.length * 0.01;
  let lo = 0, hi = 255;
  for (let seen = histogram[0]!; seen < clip && lo < 254; ) seen += histogram[++lo]!;
  for (let seen = histogram[255]!; seen < clip && hi > lo + 1; ) seen += histogram[--hi]!;
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v++) table[v] = Math.max(0, Math.min(255, Math.round(((v - lo) * 255) / (hi - lo))));
  for (let i = 0; i < plane.length; i++) plane[i] = table[plane[i]!]!;
  return plane;
}

function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
