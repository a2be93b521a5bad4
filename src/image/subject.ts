import { dilate, labelComponents } from './planes.js';

import type { Box, Point } from './types.js';

export type { Box, Point } from './types.js';

export interface SubjectOptions {
  /** A tap on the pet, in this plane's coordinates: picks the subject. */
  readonly hint?: Point;
  /**
   * Other confident regions are kept when their mass is at least this share of
   * the main one (two cats on a sofa), dropped below it (shoes, toys).
   */
  readonly keepRatio?: number;
  /** Regions within this share of the diagonal of the main one are parts of it (a head behind a fence post). */
  readonly nearShare?: number;
  /** An earlier selection (same grid): the main region is the one that overlaps it most. */
  readonly prior?: Float32Array;
}

export interface Subject {
  readonly mask: Float32Array;
  /** Bounding box of mask >= 0.5, or null when nothing was found. */
  readonly box: Box | null;
  /** Whether the hint landed on (or next to) a region. */
  readonly hintUsed: boolean;
}

const STRONG = 0.5;
const WEAK = 0.3;
/** Below this peak the model saw nothing worth keeping. */
const NOTHING = 0.08;

/**
 * Keeps the main subject of a salient-object mask: the largest confident
 * region (or the one under the hint), what is attached to it, and regions of
 * comparable size; everything else the model found salient is dropped.
 * A pet the model saw only faintly (a white dog on pale ground: alpha 0.3
 * over the whole body) is found with thresholds relative to the peak and its
 * alpha is rescaled so that it prints solid.
 */
export function selectSubject(mask: Float32Array, width: number, height: number, options: SubjectOptions = {}): Subject {
  const peak = maxOf(mask);
  if (peak < NOTHING) return { mask: new Float32Array(mask.length), box: null, hintUsed: false };
  const level = Math.min(1, peak);
  const strong = threshold(mask, STRONG * level);
  const { labels, count } = labelComponents(strong, width, height);
  const mass = new Float64Array(count + 1);
  for (let i = 0; i < mask.length; i++) mass[labels[i]!]! += mask[i]!;
  mass[0] = 0;

  const hinted = options.hint ? componentNear(labels, width, height, options.hint) : 0;
  const main = hinted || argmax(options.prior ? overlap(labels, count, options.prior) : mass);
  const keep = new Uint8Array(count + 1);
  keep[main] = 1;
  if (!hinted) {
    const ratio = options.keepRatio ?? 0.5;
    for (let c = 1; c <= count; c++) if (mass[c]! >= ratio * mass[main]!) keep[c] = 1;
  }
  keepNear(labels, width, height, main, mass, keep, options.nearShare ?? 0.03);
  const region = attachedRegion(mask, width, height, labels, keep, WEAK * level);
  const gain = faintGain(mask, labels, keep);
  const out = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (region[i]) out[i] = Math.min(1, mask[i]! * gain);
  return { mask: out, box: boundingBox(out, width, height, STRONG), hintUsed: hinted > 0 };
}

/** Marks regions that come within `share` of the diagonal of the main region (and are not specks). */
function keepNear(labels: Int32Array, width: number, height: number, main: number, mass: Float64Array, keep: Uint8Array, share: number): void {
  if (share <= 0) return;
  const own = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) own[i] = labels[i] === main ? 1 : 0;
  const reach = dilate(own, width, height, Math.max(1, Math.round(share * Math.hypot(width, height))));
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label && reach[i] && mass[label]! >= 0.02 * mass[main]!) keep[label] = 1;
  }
}

function overlap(labels: Int32Array, count: number, prior: Float32Array): Float64Array {
  const sums = new Float64Array(count + 1);
  for (let i = 0; i < labels.length; i++) sums[labels[i]!]! += prior[i]!;
  sums[0] = 0;
  return sums;
}

function maxOf(values: Float32Array): number {
  let peak = 0;
  for (const v of values) if (v > peak) peak = v;
  return peak;
}

/** 1 when the kept regions are confident; otherwise the factor that brings their 90th percentile to 0.9. */
function faintGain(mask: Float32Array, labels: Int32Array, keep: Uint8Array): number {
  const histogram = new Uint32Array(101);
  let total = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!labels[i] || !keep[labels[i]!]) continue;
    histogram[Math.round(mask[i]! * 100)]!++;
    total++;
  }
  let seen = 0;
  let p90 = 1;
  for (let v = 0; v <= 100; v++) {
    seen += histogram[v]!;
    if (seen >= 0.9 * total) {
      p90 = v / 100;
      break;
    }
  }
  // Capped at 3x: a region that faint is more likely doubt than a pet.
  return p90 >= 0.9 || p90 <= 0 ? 1 : Math.min(3, 0.9 / p90);
}

function threshold(mask: Float32Array, t: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i]! >= t ? 1 : 0;
  return out;
}

function argmax(values: Float64Array): number {
  let best = 1;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** The component under the point, else the nearest one within 4 % of the diagonal, else 0. */
function componentNear(labels: Int32Array, width: number, height: number, hint: Point): number {
  const px = Math.round(hint.x);
  const py = Math.round(hint.y);
  const reach = Math.ceil(0.04 * Math.hypot(width, height));
  let best = 0;
  let bestDistance = Infinity;
  for (let y = Math.max(0, py - reach); y <= Math.min(height - 1, py + reach); y++) {
    for (let x = Math.max(0, px - reach); x <= Math.min(width - 1, px + reach); x++) {
      const label = labels[y * width + x]!;
      if (!label) continue;
      const distance = Math.hypot(x - px, y - py);
      if (distance <= reach && distance < bestDistance) {
        best = label;
        bestDistance = distance;
      }
    }
  }
  return best;
}

/**
 * Weak regions (mask >= weakLevel) that contain a kept confident region, widened by
 * two pixels so the soft fur fringe below WEAK survives.
 */
function attachedRegion(mask: Float32Array, width: number, height: number, strongLabels: Int32Array, keep: Uint8Array, weakLevel: number): Uint8Array {
  const weak = threshold(mask, weakLevel);
  const { labels, count } = labelComponents(weak, width, height);
  const keepWeak = new Uint8Array(count + 1);
  for (let i = 0; i < mask.length; i++) if (keep[strongLabels[i]!] && strongLabels[i]) keepWeak[labels[i]!] = 1;
  const region = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) region[i] = labels[i] && keepWeak[labels[i]!] ? 1 : 0;
  return dilate(region, width, height, 2);
}

export function boundingBox(mask: Float32Array | Uint8Array, width: number, height: number, t: number): Box | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x]! < t) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/**
 * A pet is opaque: mid alpha enclosed by the confident subject (dark fur on a
 * dark sofa, a cat half in shadow) becomes solid. Only enclosed areas: mid
 * alpha that reaches the frame's edge is usually floor or grass, and real
 * holes (between legs) are near 0, so both stay as they are.
 */
export function fillEnclosed(mask: Float32Array, width: number, height: number): Float32Array {
  const open = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) open[i] = mask[i]! < STRONG ? 1 : 0;
  const { labels, count } = labelComponents(open, width, height);
  const touchesEdge = new Uint8Array(count + 1);
  for (let x = 0; x < width; x++) {
    touchesEdge[labels[x]!] = 1;
    touchesEdge[labels[(height - 1) * width + x]!] = 1;
  }
  for (let y = 0; y < height; y++) {
    touchesEdge[labels[y * width]!] = 1;
    touchesEdge[labels[y * width + width - 1]!] = 1;
  }
  const out = new Float32Array(mask);
  for (let i = 0; i < out.length; i++) {
    const label = labels[i]!;
    if (label && !touchesEdge[label] && mask[i]! >= 0.1) out[i] = 1;
  }
  return out;
}

/** Share of the subject whose alpha is uncertain (0.1..0.9): 1 = crisp, 0 = all doubt. */
export function maskConfidence(mask: Float32Array): number {
  let uncertain = 0;
  let subject = 0;
  for (const v of mask) {
    if (v > 0.1 && v < 0.9) uncertain++;
    if (v >= 0.5) subject++;
  }
  if (subject === 0) return 0;
  return Math.max(0, 1 - uncertain / subject);
}
