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

/**
 * Full-resolution alpha. Inside `band` (work cells near an edge) the guided
 * filter's coefficients are interpolated and applied to the full-resolution
 * pixel; elsewhere the work-resolution alpha (solid 0 or 1 there) is copied.
 */
export function upsampleAlpha(rgb: Uint8Array, width: number, height: number, coeff: GuidedCoefficients, coarse: Float32Array, band: Uint8Array, inputAlpha?: Uint8Array): Uint8Array {
  const ww = coeff.width;
  const tx = taps(width, ww);
  const ty = taps(height, coeff.height);
  const { ar, ag, ab, b } = coeff;
  const out = new Uint8Array(width * height);
  const k = 1 / 255;
  for (let y = 0; y < height; y++) {
    const r0 = ty.i0[y]! * ww, r1 = ty.i1[y]! * ww, fy = ty.f[y]!, rn = ty.nearest[y]! * ww;
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const cell = rn + tx.nearest[x]!;
      let a: number;
      if (band[cell]) {
        const c0 = tx.i0[x]!, c1 = tx.i1[x]!, fx = tx.f[x]!;
        const w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        const i00 = r0 + c0, i01 = r0 + c1, i10 = r1 + c0, i11 = r1 + c1;
        const p = (row + x) * 3;
        a = (ar[i00]! * w00 + ar[i01]! * w01 + ar[i10]! * w10 + ar[i11]! * w11) * rgb[p]! * k +
          (ag[i00]! * w00 + ag[i01]! * w01 + ag[i10]! * w10 + ag[i11]! * w11) * rgb[p + 1]! * k +
          (ab[i00]! * w00 + ab[i01]! * w01 + ab[i10]! * w10 + ab[i11]! * w11) * rgb[p + 2]! * k +
          (b[i00]! * w00 + b[i01]! * w01 + b[i10]! * w10 + b[i11]! * w11);
      } else {
        a = coarse[cell]!;
      }
      let v = Math.round(a * 255);
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      if (inputAlpha && inputAlpha[row + x]! < v) v = inputAlpha[row + x]!;
      out[row + x] = v;
    }
  }
  return out;
}

/**
 * RGBA for `rect`: opaque pixels keep the photo, transparent ones are zeroed
 * (they compress to nothing), and semi-transparent fur gets its estimated
 * foreground colour so the old background does not bleed into the print.
 */
export function assembleRgba(rgb: Uint8Array, alpha: Uint8Array, width: number, height: number, rect: Box,
  means: { fg: Float32Array; bg: Float32Array; width: number; height: number }): Buffer {
  const out = Buffer.alloc(rect.width * rect.height * 4);
  const tx = taps(width, means.width);
  const ty = taps(height, means.height);
  for (let y = 0; y < rect.height; y++) {
    const sy = y + rect.y;
    const src = sy * width + rect.x;
    const dst = y * rect.width;
    const wrow = ty.nearest[sy]! * means.width;
    for (let x = 0; x < rect.width; x++) {
      const a = alpha[src + x]!;
      if (a === 0) continue;
      const p = (src + x) * 3, q = (dst + x) * 4;
      out[q + 3] = a;
      if (a === 255) {
        out[q] = rgb[p]!; out[q + 1] = rgb[p + 1]!; out[q + 2] = rgb[p + 2]!;
        continue;
      }
      const t = a / 255;
      const m = (wrow + tx.nearest[x + rect.x]!) * 3;
      for (let c = 0; c < 3; c++) {
        const fb = means.fg[m + c]!;
        const v = fb + t * (rgb[p + c]! - t * fb - (1 - t) * means.bg[m + c]!);
        out[q + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
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
