import type { GuidedCoefficients } from './refine.js';
import type { Box } from './subject.js';

/**
 * The two full-resolution passes. Both are single loops over the photo with
 * no intermediate full-size planes: about 12 M iterations for a phone photo.
 */

/** Maps full-resolution x (or y) to bilinear taps on the work grid. */
function taps(full: number, work: number): { i0: Int32Array; i1: Int32Array; f: Float32Array; nearest: Int32Array } {
  const scale = work / full;
  const i0 = new Int32Array(full), i1 = new Int32Array(full), nearest = new Int32Array(full);
  const f = new Float32Array(full);
  for (let x = 0; x < full; x++) {
    const p = Math.min(Math.max((x + 0.5) * scale - 0.5, 0), work - 1);
    i0[x] = Math.floor(p);
    i1[x] = Math.min(i0[x]! + 1, work - 1);
    f[x] = p - i0[x]!;
    nearest[x] = Math.min(work - 1, Math.floor((x + 0.5) * scale));
  }
  return { i0, i1, f, nearest };
}

/** For each work cell column (or row): the first full-resolution index mapping to it (nearest). */
function runStarts(full: number, work: number, nearest: Int32Array): Int32Array {
  const starts = new Int32Array(work + 1).fill(full);
  for (let x = full - 1; x >= 0; x--) starts[nearest[x]!] = x;
  for (let c = work - 1; c >= 0; c--) if (starts[c]! > starts[c + 1]!) starts[c] = starts[c + 1]!;
  return starts;
}

export interface FinishInput {
  readonly coeff: GuidedCoefficients;
  /** Refined alpha on the coefficients' grid. */
  readonly coarse: Float32Array;
  /** Grid cells near an edge, where full-resolution work is needed. */
  readonly band: Uint8Array;
  readonly means: { fg: Float32Array; bg: Float32Array };
  readonly inputAlpha?: Uint8Array;
}

/**
 * The one full-resolution pass: returns the alpha and turns `rgb` in place into
 * the cut-out's colours. Away from edges a whole run of pixels shares its grid
 * cell's value (a fill: opaque runs keep the photo, transparent runs are zeroed
 * so they compress to nothing). Inside the band each pixel gets the guided
 * filter's interpolated coefficients applied to its own colour, and, where it
 * is semi-transparent, its estimated foreground colour (blur fusion) so the old
 * background does not bleed into the fur.
 */
export function finishFullRes(rgb: Uint8Array, width: number, height: number, input: FinishInput): Uint8Array {
  const { coeff, coarse, band, means, inputAlpha } = input;
  const ww = coeff.width;
  const tx = taps(width, ww);
  const ty = taps(height, coeff.height);
  const starts = runStarts(width, ww, tx.nearest);
  const alpha = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const rn = ty.nearest[y]! * ww;
    const row = y * width;
    for (let c = 0; c < ww; c++) {
      const x0 = starts[c]!, x1 = starts[c + 1]!;
      if (x0 >= x1) continue;
      const cell = rn + c;
      if (band[cell]) {
        for (let x = x0; x < x1; x++) finishPixel(rgb, alpha, row + x, x, y, coeff, tx, ty, means, cell * 3);
      } else if (coarse[cell]! >= 0.5) {
        alpha.fill(255, row + x0, row + x1);
      } else {
        rgb.fill(0, (row + x0) * 3, (row + x1) * 3);
      }
    }
  }
  if (inputAlpha) applyInputAlpha(rgb, alpha, inputAlpha);
  return alpha;
}

type Taps = ReturnType<typeof taps>;

function finishPixel(rgb: Uint8Array, alpha: Uint8Array, i: number, x: number, y: number, coeff: GuidedCoefficients,
  tx: Taps, ty: Taps, means: { fg: Float32Array; bg: Float32Array }, m: number): void {
  const ww = coeff.width;
  const r0 = ty.i0[y]! * ww, r1 = ty.i1[y]! * ww, fy = ty.f[y]!;
  const c0 = tx.i0[x]!, c1 = tx.i1[x]!, fx = tx.f[x]!;
  const w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
  const i00 = r0 + c0, i01 = r0 + c1, i10 = r1 + c0, i11 = r1 + c1;
  const { ar, ag, ab, b } = coeff;
  const p = i * 3;
  const R = rgb[p]!, G = rgb[p + 1]!, B = rgb[p + 2]!;
  const a = ((ar[i00]! * w00 + ar[i01]! * w01 + ar[i10]! * w10 + ar[i11]! * w11) * R +
    (ag[i00]! * w00 + ag[i01]! * w01 + ag[i10]! * w10 + ag[i11]! * w11) * G +
    (ab[i00]! * w00 + ab[i01]! * w01 + ab[i10]! * w10 + ab[i11]! * w11) * B) / 255 +
    (b[i00]! * w00 + b[i01]! * w01 + b[i10]! * w10 + b[i11]! * w11);
  const v = Math.round(a * 255);
  const value = v < 0 ? 0 : v > 255 ? 255 : v;
  alpha[i] = value;
  if (value === 255) return;
  if (value === 0) {
    rgb[p] = 0; rgb[p + 1] = 0; rgb[p + 2] = 0;
    return;
  }
  const t = value / 255;
  for (let c = 0; c < 3; c++) {
    const fb = means.fg[m + c]!;
    const f = fb + t * (rgb[p + c]! - t * fb - (1 - t) * means.bg[m + c]!);
    rgb[p + c] = f < 0 ? 0 : f > 255 ? 255 : f;
  }
}

/** The result never shows what the input itself hid. */
function applyInputAlpha(rgb: Uint8Array, alpha: Uint8Array, inputAlpha: Uint8Array): void {
  for (let i = 0; i < alpha.length; i++) {
    if (inputAlpha[i]! >= alpha[i]!) continue;
    alpha[i] = inputAlpha[i]!;
    if (alpha[i] === 0) rgb.fill(0, i * 3, i * 3 + 3);
  }
}

/** Bounding box of alpha >= t at full resolution, or null. */
export function alphaBox(alpha: Uint8Array, width: number, height: number, t: number): Box | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let first = -1, last = -1;
    for (let x = 0; x < width; x++) {
      if (alpha[row + x]! >= t) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
    if (y < y0) y0 = y;
    y1 = y;
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}
