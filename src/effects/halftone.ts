import sharp from 'sharp';
import { blurGrey, greyOnPaper, hexToRgb } from './kit.js';
import type { Effect, EffectContext, EffectImage, EffectParams } from './types.js';

/**
 * Comic halftone: an AM dot screen as a press prints it. Each screen is a
 * rotated grid of cells; each cell gets one round dot whose area is the ink
 * coverage of that patch of the photo (cyan, magenta, yellow and black at
 * their classic angles, or a single ink), drawn with anti-aliased edges. Bold
 * outlines come from a difference of Gaussians and from the silhouette.
 *
 * Coverage is sampled from a libvips downscale (a few pixels per cell), so
 * the per-pixel work is one typed-array loop that only looks up its cell.
 */
export const halftoneEffect: Effect = {
  name: 'halftone',
  label: 'Comic Halftone',
  description: 'Your pet as a vintage comic panel: bold ink outlines over a printed dot screen.',
  parameters: {
    cell: { type: 'integer', min: 4, max: 24, default: 8, description: 'Dot spacing in pixels at 1024 px (scales with the image).' },
    mode: { type: 'string', values: ['color', 'mono'], default: 'color', description: 'color: four-colour CMYK screens; mono: one ink on white.' },
    ink: { type: 'string', colour: true, default: '#1b1a26', description: 'Ink for the outlines, and for the dots in mono mode (hex colour).' },
    outline: { type: 'number', min: 0, max: 1, default: 0.8, description: 'Strength of the bold outlines: 0 dots only.' },
    angle: { type: 'number', min: 0, max: 90, default: 45, description: 'Screen angle in degrees (of the black or single screen; colour screens keep their offsets).' },
  },
  apply: (image, params, context) => applyHalftone(image, params, context),
};

interface Screen {
  /** Ink transmittance per channel (0..1): the paper colour is multiplied by it where the dot is solid. */
  readonly filter: readonly [number, number, number];
  /** Degrees relative to the `angle` parameter (the usual 15 / 75 / 0 / 45 set at the default). */
  readonly offset: number;
  /** Coverage 0..1 of this ink from an RGB colour (0..1 each). */
  readonly coverage: (r: number, g: number, b: number) => number;
}

/** Process inks as printed on white stock (sRGB of cyan #00aeef, magenta #ec008c, yellow #fff200). */
const CMYK_SCREENS: readonly Screen[] = [
  { filter: [0, 174 / 255, 239 / 255], offset: -30, coverage: (r, g, b) => undercolour(r, g, b, r) },
  { filter: [236 / 255, 0, 140 / 255], offset: 30, coverage: (r, g, b) => undercolour(r, g, b, g) },
  { filter: [1, 242 / 255, 0], offset: -45, coverage: (r, g, b) => undercolour(r, g, b, b) },
  { filter: [0.13, 0.12, 0.13], offset: 0, coverage: (r, g, b) => blackOf(r, g, b) },
];

/**
 * Black as a comic inker lays it: nothing in the light and midtones (the
 * colour screens carry those, so fur stays colourful), dots in the shadows,
 * solid spot black in the deepest ones.
 */
function blackOf(r: number, g: number, b: number): number {
  const k = 1 - Math.max(r, g, b);
  return smoothstep(0.35, 0.95, k);
}

/** A colour ink's coverage: what the black leaves of 1 - channel, with the saturation lifted for comic colour. */
function undercolour(r: number, g: number, b: number, channel: number): number {
  const k = blackOf(r, g, b);
  if (k >= 1) return 0;
  const luma = 0.299 * r + 0.587 * g + 0.114 * b;
  const boosted = Math.max(0, Math.min(1, luma + (channel - luma) * SATURATION));
  return Math.max(0, Math.min(1, (1 - boosted - k) / (1 - k)));
}

const SATURATION = 1.35;

function smoothstep(edge0: number, edge1: number, x: number): number {
  const t = Math.max(0, Math.min(1, (x - edge0) / (edge1 - edge0)));
  return t * t * (3 - 2 * t);
}

/** Single-ink screen: darkness with a slight lift so midtones do not fill in. */
const MONO_SCREEN: Screen = {
  filter: [0, 0, 0], offset: 0,
  coverage: (r, g, b) => (1 - (0.299 * r + 0.587 * g + 0.114 * b)) ** 1.15,
};

/** Coverage below this prints as clean paper: no dust-speck dots in the highlights. */
const MIN_COVERAGE = 0.1;
/** Local-contrast gain on the coverage sample (0: off). */
const CLARITY = 0.5;
/** Outline DoG inner sigma at the reference size (px; outer is 1.6x). */
const OUTLINE_SIGMA = 1.8;
/** DoG steps (8-bit) below this are fur texture, not outlines. */
const OUTLINE_THRESHOLD = 3;

export async function applyHalftone(image: EffectImage, params: EffectParams, context: EffectContext): Promise<EffectImage> {
  const { width, height, alpha } = image;
  const cell = Math.max(2, Math.round(Number(params.cell) * context.scale));
  const mono = params.mode === 'mono';
  const ink = hexToRgb(String(params.ink));
  const outlineStrength = Number(params.outline);
  const screens = mono ? [MONO_SCREEN] : CMYK_SCREENS;

  const [sample, outline] = await Promise.all([
    coverageSampler(image, cell, CLARITY),
    outlineStrength > 0 ? outlinePlane(image, context, outlineStrength) : Promise.resolve(null),
  ]);
  const grids = screens.map((screen) => screenGrid(screen, Number(params.angle) + screen.offset, cell, width, height, sample));
  const out = Buffer.allocUnsafe(width * height * 3);
  if (mono) drawMono(grids[0]!, cell, width, height, outline, ink, out);
  else drawColour(grids, screens, cell, width, height, outline, ink, out);
  return { width, height, rgb: out, alpha };
}

/** The photo averaged down to about two pixels a cell (libvips), read bilinearly. */
interface Sampler {
  readonly step: number;
  readonly width: number;
  readonly height: number;
  /** RGB, 3 bytes a pixel, un-mixed from the transparent surround, local contrast lifted. */
  readonly rgb: Buffer;
  readonly alpha: Buffer;
}

async function coverageSampler(image: EffectImage, cell: number, clarity: number): Promise<Sampler> {
  const step = Math.max(1, cell / 2);
  const sw = Math.max(1, Math.round(image.width / step));
  const sh = Math.max(1, Math.round(image.height / step));
  const shrink = (data: Buffer, channels: 1 | 3): Promise<Buffer> => {
    const p = sharp(data, { raw: { width: image.width, height: image.height, channels } }).resize(sw, sh, { fit: 'fill', kernel: 'linear' });
    return (channels === 1 ? p.toColourspace('b-w') : p).raw().toBuffer();
  };
  // Two plain resizes: sharp ignores a resize after joinChannel, and a joined RGBA copy would be a frame more.
  const [mixed, alpha] = await Promise.all([
    shrink(image.rgb, 3),
    shrink(Buffer.from(image.alpha.buffer, image.alpha.byteOffset, image.alpha.byteLength), 1),
  ]);
  // Transparent pixels are zero in the cut-out: divide their share back out, and show paper where nothing is left.
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i]!;
    for (let c = i * 3; c < i * 3 + 3; c++) mixed[c] = a === 0 ? 255 : Math.min(255, Math.round((mixed[c]! * 255) / a));
  }
  // Local contrast ("clarity") on this small image: deviations from the pet's own wide-blurred luma are
  // amplified, so the eyes in black fur survive the screens. (sharp's clahe() costs ~70 ms even here.)
  const sigma = Math.max(sw, sh) / 16;
  if (clarity > 0 && sigma >= 0.3) { // a sample too small for libvips' smallest blur has no local contrast to lift
    const weighted = new Uint8Array(sw * sh);
    for (let i = 0, j = 0; i < weighted.length; i++, j += 3) {
      weighted[i] = (((mixed[j]! * 77 + mixed[j + 1]! * 150 + mixed[j + 2]! * 29) >> 8) * alpha[i]! + 127) / 255 | 0;
    }
    const wide = (plane: Uint8Array): Promise<Buffer> => sharp(plane, { raw: { width: sw, height: sh, channels: 1 } })
      .blur(sigma).toColourspace('b-w').raw().toBuffer();
    // The local mean over the pet only (alpha-weighted): the paper around it does not darken its edges.
    const [sum, weight] = await Promise.all([wide(weighted), wide(alpha)]);
    for (let i = 0, j = 0; i < weighted.length; i++, j += 3) {
      if (weight[i]! === 0) continue;
      const l = (mixed[j]! * 77 + mixed[j + 1]! * 150 + mixed[j + 2]! * 29) >> 8;
      const lift = (l - (sum[i]! * 255) / weight[i]!) * clarity;
      for (let c = j; c < j + 3; c++) mixed[c] = Math.max(0, Math.min(255, Math.round(mixed[c]! + lift)));
    }
  }
  return { step: image.width / sw, width: sw, height: sh, rgb: mixed, alpha };
}

/** One screen's rotated cell grid: the dot radius (in cell units) of every cell that touches the image. */
interface Grid {
  readonly cos: number;
  readonly sin: number;
  readonly uMin: number;
  readonly vMin: number;
  readonly columns: number;
  readonly radius: Float32Array;
  /** Sub-pixel sample offsets in (u, v), pairs; one (0, 0) pair when not supersampling. */
  readonly offsets: Float64Array;
}

function screenGrid(screen: Screen, degrees: number, cell: number, width: number, height: number, sample: Sampler): Grid {
  const angle = (degrees * Math.PI) / 180;
  const cos = Math.cos(angle), sin = Math.sin(angle);
  const us = [0, width * cos, height * sin, width * cos + height * sin].map((u) => u / cell);
  const vs = [0, -width * sin, height * cos, -width * sin + height * cos].map((v) => v / cell);
  // One spare cell all round: sub-pixel samples at the image border stay inside the grid.
  const uMin = Math.floor(Math.min(...us)) - 1, vMin = Math.floor(Math.min(...vs)) - 1;
  const columns = Math.ceil(Math.max(...us)) - uMin + 2;
  const rows = Math.ceil(Math.max(...vs)) - vMin + 2;
  const radius = new Float32Array(columns * rows);
  const rgba = [0, 0, 0, 0];
  for (let b = 0; b < rows; b++) {
    for (let a = 0; a < columns; a++) {
      const u = (a + uMin + 0.5) * cell, v = (b + vMin + 0.5) * cell;
      const x = u * cos - v * sin, y = u * sin + v * cos;
      if (x < -cell || y < -cell || x > width + cell || y > height + cell) continue;
      bilinear(sample, x, y, rgba);
      if (rgba[3]! < 8) continue; // outside the pet: no ink
      const coverage = screen.coverage(rgba[0]! / 255, rgba[1]! / 255, rgba[2]! / 255);
      // Highlights roll off to clean paper: no dust-speck dots on white fur.
      radius[b * columns + a] = coverage <= MIN_COVERAGE ? 0 : radiusFor((coverage - MIN_COVERAGE) / (1 - MIN_COVERAGE));
    }
  }
  const samples = supersampling(cell);
  const offsets = new Float64Array(samples * samples * 2);
  for (let k = 0; k < samples * samples; k++) {
    const ox = ((k % samples) + 0.5) / samples - 0.5, oy = (Math.floor(k / samples) + 0.5) / samples - 0.5;
    offsets[k * 2] = (ox * cos + oy * sin) / cell;
    offsets[k * 2 + 1] = (oy * cos - ox * sin) / cell;
  }
  return { cos, sin, uMin, vMin, columns, radius, offsets };
}

/**
 * Samples per pixel side. A one-pixel anti-aliasing ramp is exact enough from
 * 4 px cells up; a 2 px cell (a 256 px preview) would print 20 levels off its
 * tone, so small cells are supersampled (small cells only occur on small images).
 */
function supersampling(cell: number): number {
  return cell >= 4 ? 1 : cell >= 3 ? 3 : 4;
}

/** Bilinear RGBA of the sampler at image position (x, y). */
function bilinear(s: Sampler, x: number, y: number, out: number[]): void {
  const fx = Math.min(s.width - 1, Math.max(0, x / s.step - 0.5));
  const fy = Math.min(s.height - 1, Math.max(0, y / s.step - 0.5));
  const x0 = Math.floor(fx), y0 = Math.floor(fy);
  const x1 = Math.min(s.width - 1, x0 + 1), y1 = Math.min(s.height - 1, y0 + 1);
  const wx = fx - x0, wy = fy - y0;
  const w00 = (1 - wx) * (1 - wy), w10 = wx * (1 - wy), w01 = (1 - wx) * wy, w11 = wx * wy;
  const p00 = y0 * s.width + x0, p10 = y0 * s.width + x1, p01 = y1 * s.width + x0, p11 = y1 * s.width + x1;
  out[3] = s.alpha[p00]! * w00 + s.alpha[p10]! * w10 + s.alpha[p01]! * w01 + s.alpha[p11]! * w11;
  for (let c = 0; c < 3; c++) {
    out[c] = s.rgb[p00 * 3 + c]! * w00 + s.rgb[p10 * 3 + c]! * w10 + s.rgb[p01 * 3 + c]! * w01 + s.rgb[p11 * 3 + c]! * w11;
  }
}

/**
 * Dot radius (cell units) whose disc, clipped to its square cell, covers
 * `coverage` of it: pi r^2 up to r = 0.5, then minus the four caps past the
 * cell sides, up to the full cell at r = sqrt(2) / 2. Tabulated once.
 */
const RADIUS_STEPS = 1024;
const RADIUS_TABLE = (() => {
  const area = (r: number): number => r <= 0.5 ? Math.PI * r * r
    : Math.PI * r * r - 4 * (r * r * Math.acos(0.5 / r) - 0.5 * Math.sqrt(r * r - 0.25));
  const table = new Float32Array(RADIUS_STEPS + 1);
  for (let k = 0; k <= RADIUS_STEPS; k++) {
    let lo = 0, hi = Math.SQRT1_2;
    for (let it = 0; it < 40; it++) {
      const mid = (lo + hi) / 2;
      if (area(mid) < k / RADIUS_STEPS) lo = mid; else hi = mid;
    }
    table[k] = (lo + hi) / 2;
  }
  return table;
})();

function radiusFor(coverage: number): number {
  return RADIUS_TABLE[Math.round(Math.min(1, coverage) * RADIUS_STEPS)]!;
}

/**
 * Ink amount 0..1 of one screen at a pixel whose rotated coordinates (cell
 * units, grid origin removed) are u, v: a disc with a one-pixel anti-aliased
 * edge, clipped to its own cell.
 */
function dotAt(grid: Grid, u: number, v: number, cell: number, halfPixel: number): number {
  const a = u | 0, b = v | 0;
  const r = grid.radius[b * grid.columns + a]!;
  if (r === 0) return 0;
  const fu = u - a - 0.5, fv = v - b - 0.5;
  const d2 = fu * fu + fv * fv;
  const outer = r + halfPixel;
  if (d2 >= outer * outer) return 0;
  const inner = r - halfPixel;
  if (inner > 0 && d2 <= inner * inner) return 1;
  return Math.min(1, (r - Math.sqrt(d2)) * cell + 0.5);
}

/** Ink amount 0..1 of one screen over a whole pixel: one dotAt, or the mean of the supersamples. */
function inkAt(grid: Grid, u: number, v: number, cell: number, halfPixel: number): number {
  const offsets = grid.offsets;
  if (offsets.length === 2) return dotAt(grid, u, v, cell, halfPixel);
  const count = offsets.length / 2;
  const fine = cell * Math.sqrt(count), halfFine = halfPixel / Math.sqrt(count);
  let sum = 0;
  for (let k = 0; k < offsets.length; k += 2) sum += dotAt(grid, u + offsets[k]!, v + offsets[k + 1]!, fine, halfFine);
  return sum / count;
}

function drawMono(grid: Grid, cell: number, width: number, height: number, outline: Uint8Array | null, ink: readonly number[], out: Buffer): void {
  const halfPixel = 0.5 / cell;
  const du = grid.cos / cell, dv = -grid.sin / cell;
  const [ir, ig, ib] = ink as [number, number, number];
  for (let y = 0, i = 0; y < height; y++) {
    let u = (y * grid.sin) / cell - grid.uMin;
    let v = (y * grid.cos) / cell - grid.vMin;
    for (let x = 0; x < width; x++, i++, u += du, v += dv) {
      let t = inkAt(grid, u, v, cell, halfPixel);
      if (outline !== null && outline[i]! > 0) t = Math.max(t, outline[i]! / 255);
      const j = i * 3;
      out[j] = Math.round(255 + (ir - 255) * t);
      out[j + 1] = Math.round(255 + (ig - 255) * t);
      out[j + 2] = Math.round(255 + (ib - 255) * t);
    }
  }
}

function drawColour(grids: readonly Grid[], screens: readonly Screen[], cell: number, width: number, height: number,
  outline: Uint8Array | null, ink: readonly number[], out: Buffer): void {
  const halfPixel = 0.5 / cell;
  const n = grids.length;
  // Flattened per-screen constants: the inner loop reads typed arrays only.
  const du = new Float64Array(n), dv = new Float64Array(n), u = new Float64Array(n), v = new Float64Array(n);
  const absorb = new Float64Array(n * 3);
  for (let s = 0; s < n; s++) {
    du[s] = grids[s]!.cos / cell;
    dv[s] = -grids[s]!.sin / cell;
    for (let c = 0; c < 3; c++) absorb[s * 3 + c] = 1 - screens[s]!.filter[c]!;
  }
  const [ir, ig, ib] = ink as [number, number, number];
  for (let y = 0, i = 0; y < height; y++) {
    for (let s = 0; s < n; s++) {
      u[s] = (y * grids[s]!.sin) / cell - grids[s]!.uMin;
      v[s] = (y * grids[s]!.cos) / cell - grids[s]!.vMin;
    }
    for (let x = 0; x < width; x++, i++) {
      let r = 255, g = 255, b = 255;
      for (let s = 0; s < n; s++) {
        const t = inkAt(grids[s]!, u[s]!, v[s]!, cell, halfPixel);
        u[s]! += du[s]!;
        v[s]! += dv[s]!;
        if (t === 0) continue;
        r *= 1 - t * absorb[s * 3]!;
        g *= 1 - t * absorb[s * 3 + 1]!;
        b *= 1 - t * absorb[s * 3 + 2]!;
      }
      if (outline !== null && outline[i]! > 0) {
        const t = outline[i]! / 255;
        r += (ir - r) * t;
        g += (ig - g) * t;
        b += (ib - b) * t;
      }
      const j = i * 3;
      out[j] = Math.round(r);
      out[j + 1] = Math.round(g);
      out[j + 2] = Math.round(b);
    }
  }
}

/**
 * Outline ink 0..255: the dark side of strong edges (DoG of the grey image
 * over white, so dark fur against the paper is outlined too) and a band just
 * inside the silhouette, so pale pets get their contour as well.
 */
async function outlinePlane(image: EffectImage, context: EffectContext, strength: number): Promise<Uint8Array> {
  const { width, height, alpha } = image;
  const grey = greyOnPaper(image);
  const sigma = OUTLINE_SIGMA * context.scale;
  const [inner, outer, edge] = await Promise.all([
    blurGrey(grey, width, height, sigma),
    blurGrey(grey, width, height, sigma * 1.6),
    blurGrey(alpha, width, height, sigma * 1.4),
  ]);
  const gain = strength / 6; // full ink 6 DoG steps past the threshold
  const out = grey; // reused: each pixel is read before it is written
  for (let i = 0; i < out.length; i++) {
    const dog = outer[i]! - inner[i]! - OUTLINE_THRESHOLD;
    let t = dog > 0 ? Math.min(1, dog * gain) : 0;
    // The silhouette band: blurred alpha falls from 255 well inside to ~128 at the contour. The line
    // sits just inside it, on (nearly) opaque pixels only: ink on a translucent fur fringe reads as a grey smear.
    const e = edge[i]!, a = alpha[i]!;
    if (e > 90 && e < 240 && a > 128) t = Math.max(t, Math.min(1, (e - 90) / 40, (240 - e) / 30, (a - 128) / 64) * strength);
    out[i] = Math.round(t * 255);
  }
  return out;
}
