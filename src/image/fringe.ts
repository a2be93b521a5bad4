import { boxMean } from './planes.js';

/**
 * How much of the old background a cut-out's edge colours still carry: the
 * "colour fringe" (a green halo in a grey cat's fur laid on white, snow
 * around a golden dog laid on black).
 *
 * What is measured. Each edge pixel's output colour C is compared with two
 * local references taken from the *photo* (never from the algorithm under
 * test, so every version is judged against the same thing): F, the mean
 * colour of the solid interior near it (opaque pixels at least `rim` pixels
 * inside the edge), and B, the mean colour of the background near it
 * (alpha <= 2 %). Matting's compositing equation says the photo is
 * I = aF + (1 - a)B, so a colour that was not decontaminated (C = I) sits a
 * share (1 - a) of the way from F to B. The leak is that share, measured as
 * the projection of C - F on B - F, clamped to 0..1: 0 is a clean
 * foreground colour, 1 is the background itself. The projection ignores
 * differences across the F-B line (fur's own texture that is not
 * background-coloured) and pixels where F and B are too alike to tell apart
 * (under `minContrast` levels) are not counted: there a fringe cannot be seen.
 *
 * Two numbers per pixel set. `leak`: the alpha-weighted mean share (weighted
 * by alpha because a pixel shows its colour in proportion to its alpha).
 * `visible`: the mean length a * leak * |B - F| in 8-bit levels: how far the
 * composite on a new background is pulled towards the old one, which is
 * what a viewer sees as a halo. The sets: `edge`, the semi-transparent
 * pixels (alpha `low`..`high`, default 5 %..95 %), and `rim`, the outermost
 * opaque ones (alpha above `high` within `rim` pixels of a pixel below it),
 * which the matte calls foreground but which are often fur tips mixed with
 * the background.
 *
 * The references are means, so natural colour variation of fur along the
 * F-B line also reads as a little leak: the figure is for comparing
 * versions of the colours of one cut-out (and the photo's own colours under
 * the same alpha, the undecontaminated baseline), not an absolute error.
 */
export interface FringeSet {
  /** Pixels counted (in the set, with enough foreground/background contrast). */
  readonly pixels: number;
  /** Alpha-weighted mean share of the way from the local foreground colour to the local background colour, 0..1. */
  readonly leak: number;
  /** Mean a * leak * |B - F|: 8-bit levels of old background showing in a composite. */
  readonly visible: number;
}

export interface FringeStats {
  readonly edge: FringeSet;
  readonly rim: FringeSet;
}

export interface FringeOptions {
  /** Radius of the local reference windows in pixels (default 2 % of the long side, at least 4). */
  readonly radius?: number;
  /** Width of the opaque rim in pixels (default 0.4 % of the long side, at least 2). */
  readonly rim?: number;
  /** Semi-transparent range as alpha shares (default 0.05 and 0.95). */
  readonly low?: number;
  readonly high?: number;
  /** Least |B - F| (8-bit levels, Euclidean RGB) where a pixel counts (default 40). */
  readonly minContrast?: number;
}

/**
 * Fringe of a cut-out: `photo` the source's RGB, `colours` the cut-out's
 * (unpremultiplied) RGB and `alpha` its alpha, all width x height.
 */
export function measureFringe(photo: Uint8Array, colours: Uint8Array, alpha: Uint8Array, width: number, height: number,
  options: FringeOptions = {}): FringeStats {
  const long = Math.max(width, height);
  const radius = options.radius ?? Math.max(4, Math.round(long * 0.02));
  const rimWidth = options.rim ?? Math.max(2, Math.round(long * 0.004));
  const low = Math.round((options.low ?? 0.05) * 255), high = Math.round((options.high ?? 0.95) * 255);
  const minContrast2 = (options.minContrast ?? 40) ** 2;
  const n = width * height;

  // Near an edge: within rimWidth of a pixel below `high` (a box mean of that indicator above zero; 1e-4 absorbs float residue).
  const below = new Float32Array(n);
  for (let i = 0; i < n; i++) below[i] = alpha[i]! < high ? 1 : 0;
  const nearEdge = boxMean(below, width, height, rimWidth);
  const core = new Float32Array(n), back = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    core[i] = alpha[i]! >= high && nearEdge[i]! < 1e-4 ? 1 : 0;
    back[i] = alpha[i]! <= 5 ? 1 : 0;
  }
  const fg = localMeans(photo, core, width, height, radius);
  const bg = localMeans(photo, back, width, height, radius);

  const edge = new Accumulator(), rim = new Accumulator();
  for (let i = 0; i < n; i++) {
    const a = alpha[i]!;
    const inEdge = a >= low && a <= high;
    const inRim = a > high && nearEdge[i]! >= 1e-4;
    if (!inEdge && !inRim) continue;
    if (fg.weight[i]! === 0 || bg.weight[i]! === 0) continue;
    const p = i * 3;
    const fr = fg.rgb[p]!, fgG = fg.rgb[p + 1]!, fb = fg.rgb[p + 2]!;
    const dr = bg.rgb[p]! - fr, dg = bg.rgb[p + 1]! - fgG, db = bg.rgb[p + 2]! - fb;
    const d2 = dr * dr + dg * dg + db * db;
    if (d2 < minContrast2) continue;
    const share = ((colours[p]! - fr) * dr + (colours[p + 1]! - fgG) * dg + (colours[p + 2]! - fb) * db) / d2;
    const leak = share < 0 ? 0 : share > 1 ? 1 : share;
    (inEdge ? edge : rim).add(a / 255, leak, Math.sqrt(d2));
  }
  return { edge: edge.result(), rim: rim.result() };
}

/** Mean photo colour over the pixels where `weight` is 1, within `radius`; weight 0 where there are none. */
function localMeans(photo: Uint8Array, weight: Float32Array, width: number, height: number, radius: number): { rgb: Float32Array; weight: Float32Array } {
  const n = width * height;
  const w = boxMean(weight, width, height, radius);
  const rgb = new Float32Array(n * 3);
  const plane = new Float32Array(n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) plane[i] = photo[i * 3 + c]! * weight[i]!;
    const sum = boxMean(plane, width, height, radius);
    for (let i = 0; i < n; i++) rgb[i * 3 + c] = w[i]! > 1e-6 ? sum[i]! / w[i]! : 0;
  }
  for (let i = 0; i < n; i++) if (w[i]! <= 1e-6) w[i] = 0;
  return { rgb, weight: w };
}

class Accumulator {
  private count = 0;
  private weight = 0;
  private leak = 0;
  private visible = 0;

  add(a: number, leak: number, contrast: number): void {
    this.count++;
    this.weight += a;
    this.leak += a * leak;
    this.visible += a * leak * contrast;
  }

  result(): FringeSet {
    return {
      pixels: this.count,
      leak: this.weight > 0 ? round4(this.leak / this.weight) : 0,
      visible: this.count > 0 ? round4(this.visible / this.count) : 0,
    };
  }
}

const round4 = (v: number): number => Math.round(v * 10000) / 10000;
