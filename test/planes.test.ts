import { describe, expect, it } from 'vitest';
import { boxMean, dilate, labelComponents, resizePlane } from '../src/image/planes.js';
import { applyGuided, guidedCoefficients } from '../src/image/refine.js';
import { fillEnclosed, maskConfidence, selectSubject } from '../src/image/subject.js';

function bruteBoxMean(src: Float32Array, w: number, h: number, r: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let sum = 0, n = 0;
    for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) { sum += src[yy * w + xx]!; n++; }
    out[y * w + x] = sum / n;
  }
  return out;
}

/** A plane from rows of characters: '#' = 1, '+' = 0.4, '.' = 0. */
function plane(rows: string[]): { data: Float32Array; w: number; h: number } {
  const w = rows[0]!.length, h = rows.length;
  const data = new Float32Array(w * h);
  rows.forEach((row, y) => [...row].forEach((c, x) => { data[y * w + x] = c === '#' ? 1 : c === '+' ? 0.4 : 0; }));
  return { data, w, h };
}

describe('planes', () => {
  it('boxMean equals the brute-force mean, borders included', () => {
    const w = 13, h = 9;
    const src = Float32Array.from({ length: w * h }, (_, i) => (i * 37) % 11);
    for (const r of [0, 1, 3, 20]) {
      const fast = boxMean(src, w, h, r);
      const slow = bruteBoxMean(src, w, h, r);
      for (let i = 0; i < src.length; i++) expect(fast[i]).toBeCloseTo(slow[i]!, 4);
    }
  });

  it('labels 8-connected components with their areas', () => {
    const { data, w, h } = plane(['##..#', '##..#', '..#..', '.....', '##...']);
    const { count, areas } = labelComponents(Uint8Array.from(data, (v) => (v > 0 ? 1 : 0)), w, h);
    // The diagonal touch joins the top-left block and the centre pixel.
    expect(count).toBe(3);
    expect([...areas].slice(1).sort()).toEqual([2, 2, 5]);
  });

  it('dilates by a square', () => {
    const mask = new Uint8Array(25);
    mask[12] = 1;
    const out = dilate(mask, 5, 5, 1);
    expect([...out].filter(Boolean).length).toBe(9);
    expect(out[0]).toBe(0);
  });

  it('resizePlane keeps constants and interpolates ramps', () => {
    const ramp = Float32Array.from({ length: 8 }, (_, i) => i);
    const half = resizePlane(ramp, 8, 1, 4, 1);
    expect([...half]).toEqual([0.5, 2.5, 4.5, 6.5]);
  });
});

describe('subject selection', () => {
  it('keeps the largest region, drops a small distant one', () => {
    const { data, w, h } = plane([
      '..........', '.####.....', '.####...#.', '.####.....', '.####.....', '..........',
    ]);
    const subject = selectSubject(data, w, h, { nearShare: 0 });
    expect(subject.mask[2 * w + 8]).toBe(0);
    expect(subject.mask[2 * w + 2]).toBe(1);
    expect(subject.box).toEqual({ x: 1, y: 1, width: 4, height: 4 });
  });

  it('a hint picks the small region instead', () => {
    const { data, w, h } = plane([
      '..........', '.####.....', '.####...#.', '.####.....', '.####.....', '..........',
    ]);
    const subject = selectSubject(data, w, h, { hint: { x: 8, y: 2 }, nearShare: 0 });
    expect(subject.hintUsed).toBe(true);
    expect(subject.mask[2 * w + 8]).toBe(1);
    expect(subject.mask[2 * w + 2]).toBe(0);
  });

  it('a faint pet is found and made opaque', () => {
    const { data, w, h } = plane(['.......', '.+++++.', '.+++++.', '.+++++.', '.......']);
    const subject = selectSubject(data, w, h);
    expect(subject.mask[2 * w + 3]).toBeGreaterThan(0.85);
  });

  it('nothing salient gives an empty mask and no box', () => {
    const subject = selectSubject(new Float32Array(100).fill(0.01), 10, 10);
    expect(subject.box).toBeNull();
    expect(Math.max(...subject.mask)).toBe(0);
  });

  it('fills mid alpha enclosed by the subject, not mid alpha reaching the edge', () => {
    const { data, w, h } = plane(['+......', '+#####.', '+#+++#.', '+#####.', '+......']);
    const out = fillEnclosed(data, w, h);
    expect(out[2 * w + 3]).toBe(1);
    expect(out[0]).toBeCloseTo(0.4);
  });

  it('confidence falls as more of the subject is uncertain', () => {
    const crisp = plane(['####', '####']).data;
    const doubtful = plane(['#+++', '#+++']).data;
    expect(maskConfidence(crisp)).toBe(1);
    expect(maskConfidence(doubtful)).toBeLessThan(0.5);
  });
});

describe('guided filter', () => {
  it('snaps a blurry mask to the edge of the guide', () => {
    const w = 40, h = 20;
    const guide = new Uint8Array(w * h * 3);
    const mask = new Float32Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = y * w + x;
      guide.fill(x < 20 ? 30 : 220, i * 3, i * 3 + 3);
      mask[i] = Math.min(1, Math.max(0, (26 - x) / 12)); // a soft ramp around the edge
    }
    const refined = applyGuided(guidedCoefficients(guide, mask, w, h, 4, 1e-4), guide);
    const row = 10 * w;
    // Left of the guide's edge the refined mask is higher than the ramp, right of it lower.
    expect(refined[row + 17]!).toBeGreaterThan(mask[row + 17]!);
    expect(refined[row + 22]!).toBeLessThan(mask[row + 22]!);
    expect(refined[row + 19]! - refined[row + 20]!).toBeGreaterThan(mask[row + 19]! - mask[row + 20]!);
  });
});
