import { dilate, erode, labelComponents } from './planes.js';

export interface Box { x: number; y: number; width: number; height: number }
export interface Point { x: number; y: number }

export interface SubjectOptions {
  /** A tap on the pet, in this plane's coordinates: picks the subject. */
  readonly hint?: Point;
  /**
   * Other confident regions are kept when their mass is at least this share of
   * the main one (two cats on a sofa), dropped below it (shoes, toys).
   */
  readonly keepRatio?: number;
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

/**
 * Keeps the main subject of a salient-object mask: the largest confident
 * region (or the one under the hint), what is attached to it, and regions of
 * comparable size; everything else the model found salient is dropped.
 */
export function selectSubject(mask: Float32Array, width: number, height: number, options: SubjectOptions = {}): Subject {
  const strong = threshold(mask, STRONG);
  const { labels, count } = labelComponents(strong, width, height);
  if (count === 0) return { mask: new Float32Array(mask.length), box: null, hintUsed: false };
  const mass = new Float64Array(count + 1);
  for (let i = 0; i < mask.length; i++) mass[labels[i]!]! += mask[i]!;
  mass[0] = 0;

  const hinted = options.hint ? componentNear(labels, width, height, options.hint) : 0;
  const main = hinted || argmax(mass);
  const keep = new Uint8Array(count + 1);
  keep[main] = 1;
  if (!hinted) {
    const ratio = options.keepRatio ?? 0.35;
    for (let c = 1; c <= count; c++) if (mass[c]! >= ratio * mass[main]!) keep[c] = 1;
  }
  const region = attachedRegion(mask, width, height, labels, keep);
  const out = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (region[i]) out[i] = mask[i]!;
  return { mask: out, box: boundingBox(out, width, height, STRONG), hintUsed: hinted > 0 };
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
 * Weak regions (mask >= WEAK) that contain a kept confident region, widened by
 * two pixels so the soft fur fringe below WEAK survives.
 */
function attachedRegion(mask: Float32Array, width: number, height: number, strongLabels: Int32Array, keep: Uint8Array): Uint8Array {
  const weak = threshold(mask, WEAK);
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
 * A pet is opaque: mid alpha deep inside the subject (dark fur on a dark sofa)
 * becomes solid; only a band of `band` pixels at the outline stays soft.
 */
export function solidify(mask: Float32Array, width: number, height: number, band: number): Float32Array {
  const inside = threshold(mask, 0.1);
  const core = erode(inside, width, height, band);
  const out = new Float32Array(mask);
  for (let i = 0; i < out.length; i++) if (core[i]) out[i] = 1;
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
