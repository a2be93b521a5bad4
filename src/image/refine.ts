import { boxMean } from './planes.js';

/**
 * Edge-aware mask refinement: a colour guided filter (He, Sun & Tang) whose
 * linear coefficients are computed at the work resolution and applied to the
 * full-resolution photo ("fast guided filter"), so the alpha follows fur and
 * whiskers the photo shows instead of a bilinear stretch of the model's mask.
 */
export interface GuidedCoefficients {
  readonly width: number;
  readonly height: number;
  /** alpha ~= ar*R + ag*G + ab*B + b, with R, G, B in 0..1 */
  readonly ar: Float32Array;
  readonly ag: Float32Array;
  readonly ab: Float32Array;
  readonly b: Float32Array;
}

export function guidedCoefficients(guide: Uint8Array, mask: Float32Array, width: number, height: number, r: number, eps: number): GuidedCoefficients {
  const n = width * height;
  const channels = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
  for (let i = 0; i < n; i++) {
    channels[0][i] = guide[i * 3]! / 255;
    channels[1][i] = guide[i * 3 + 1]! / 255;
    channels[2][i] = guide[i * 3 + 2]! / 255;
  }
  const mean = (plane: Float32Array): Float32Array => boxMean(plane, width, height, r);
  const product = (a: Float32Array, b: Float32Array): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
    return mean(out);
  };
  const [R, G, B] = channels;
  const mR = mean(R), mG = mean(G), mB = mean(B), mP = mean(mask);
  const pR = product(R, mask), pG = product(G, mask), pB = product(B, mask);
  const rr = product(R, R), rg = product(R, G), rb = product(R, B);
  const gg = product(G, G), gb = product(G, B), bb = product(B, B);

  const ar = new Float32Array(n), ag = new Float32Array(n), ab = new Float32Array(n), b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const mr = mR[i]!, mg = mG[i]!, mb = mB[i]!, mp = mP[i]!;
    const cr = pR[i]! - mr * mp, cg = pG[i]! - mg * mp, cb = pB[i]! - mb * mp;
    // Covariance of the guide plus eps on the diagonal (regularises flat areas).
    const s11 = rr[i]! - mr * mr + eps, s12 = rg[i]! - mr * mg, s13 = rb[i]! - mr * mb;
    const s22 = gg[i]! - mg * mg + eps, s23 = gb[i]! - mg * mb, s33 = bb[i]! - mb * mb + eps;
    // Inverse of the symmetric 3x3 matrix by cofactors.
    const c11 = s22 * s33 - s23 * s23, c12 = s13 * s23 - s12 * s33, c13 = s12 * s23 - s13 * s22;
    const c22 = s11 * s33 - s13 * s13, c23 = s13 * s12 - s11 * s23, c33 = s11 * s22 - s12 * s12;
    const inv = 1 / (s11 * c11 + s12 * c12 + s13 * c13);
    const a1 = (c11 * cr + c12 * cg + c13 * cb) * inv;
    const a2 = (c12 * cr + c22 * cg + c23 * cb) * inv;
    const a3 = (c13 * cr + c23 * cg + c33 * cb) * inv;
    ar[i] = a1; ag[i] = a2; ab[i] = a3;
    b[i] = mp - a1 * mr - a2 * mg - a3 * mb;
  }
  return { width, height, ar: mean(ar), ag: mean(ag), ab: mean(ab), b: mean(b) };
}

/** Applies the coefficients to the guide they were computed on: the refined mask at work resolution. */
export function applyGuided(coeff: GuidedCoefficients, guide: Uint8Array): Float32Array {
  const n = coeff.width * coeff.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = coeff.ar[i]! * guide[i * 3]! / 255 + coeff.ag[i]! * guide[i * 3 + 1]! / 255 + coeff.ab[i]! * guide[i * 3 + 2]! / 255 + coeff.b[i]!;
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

/**
 * Local foreground and background colour means for "blur fusion" foreground
 * estimation (Forte & Pitie 2021): F = Fb + a (I - a Fb - (1 - a) Bb). Smooth
 * by construction, so they are computed at work resolution and sampled.
 *
 * Only cells the matte is sure of feed them: foreground cells with alpha
 * >= 0.9 whose 3x3 neighbourhood is too, background cells likewise with
 * alpha <= 0.1. Weighting by alpha itself (as before) let the mixed edge
 * cells in, whose colour is part background, so near fur Fb drifted towards
 * the old background and the estimate undid little (test/fringe.test.ts
 * measures it). Fur tips reach further out than the window `r` did, so the
 * window is 2r, and each mean falls back on the image-wide one in proportion
 * to how few sure cells its window holds (a prior worth PRIOR of a window:
 * at 2 % of the window sure, half the estimate is the fallback). A cascade
 * (r, then 4r, then the image) measured about the same and cost 3x.
 */
export function colourMeans(guide: Uint8Array, alpha: Float32Array, width: number, height: number, r: number): { fg: Float32Array; bg: Float32Array } {
  const fgSure = sureCells(alpha, width, height, (a) => a >= 0.9);
  const bgSure = sureCells(alpha, width, height, (a) => a <= 0.1);
  return { fg: sureMean(guide, fgSure, width, height, r), bg: sureMean(guide, bgSure, width, height, r) };
}

const PRIOR = 0.02;

/** 1 where `sure` holds for the cell and its 8 neighbours (an erosion by one cell), else 0. */
function sureCells(alpha: Float32Array, width: number, height: number, sure: (a: number) => boolean): Float32Array {
  const n = width * height;
  const cells = new Float32Array(n);
  for (let i = 0; i < n; i++) cells[i] = sure(alpha[i]!) ? 1 : 0;
  const share = boxMean(cells, width, height, 1);
  for (let i = 0; i < n; i++) cells[i] = share[i]! > 1 - 1e-4 ? 1 : 0;
  return cells;
}

/**
 * RGB means of `guide` over the cells where weight is 1, within radius 2r,
 * falling back on the whole image's (then on the guide itself).
 */
function sureMean(guide: Uint8Array, weight: Float32Array, width: number, height: number, r: number): Float32Array {
  const n = width * height;
  const out = new Float32Array(n * 3);
  let total = 0;
  const overall = [0, 0, 0];
  const plane = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (!weight[i]) continue;
    total++;
    for (let c = 0; c < 3; c++) overall[c]! += guide[i * 3 + c]!;
  }
  if (total === 0) {
    out.set(guide.subarray(0, n * 3));
    return out;
  }
  const near = boxMean(weight, width, height, 2 * r);
  for (let c = 0; c < 3; c++) {
    const prior = overall[c]! / total;
    for (let i = 0; i < n; i++) plane[i] = guide[i * 3 + c]! * weight[i]!;
    const sum = boxMean(plane, width, height, 2 * r);
    for (let i = 0; i < n; i++) out[i * 3 + c] = (sum[i]! + PRIOR * prior) / (near[i]! + PRIOR);
  }
  return out;
}
