/**
 * Segmentation metrics for the evaluation harness: pure functions over
 * row-major planes, one byte per pixel.
 *
 * `alpha` is a predicted matte (0..255); a pixel is predicted foreground when
 * alpha >= 128. `gt.fg` / `gt.valid` come from readGroundTruth: pixels with
 * valid = 0 (trimap unknown band, DAVIS void) are left out of every metric.
 */

/** The parts of a ground truth the metrics need. */
export interface MaskTruth {
  fg: Uint8Array;
  valid: Uint8Array;
}

export interface BoundaryScore {
  precision: number;
  recall: number;
  f: number;
}

const FG_THRESHOLD = 128;

function checkSizes(alpha: Uint8Array, gt: MaskTruth, expected = alpha.length): void {
  if (alpha.length !== expected || gt.fg.length !== expected || gt.valid.length !== expected) {
    throw new Error(
      `metric size mismatch: alpha ${alpha.length}, fg ${gt.fg.length}, valid ${gt.valid.length}, expected ${expected}`,
    );
  }
}

/**
 * Intersection over union (Jaccard, DAVIS "J") of the thresholded prediction
 * and the ground truth, counted over valid pixels only. An empty union (both
 * masks empty) is a perfect answer, so it scores 1 as in DAVIS.
 */
export function iou(alpha: Uint8Array, gt: MaskTruth): number {
  checkSizes(alpha, gt);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < alpha.length; i++) {
    if (gt.valid[i] === 0) continue;
    const p = alpha[i]! >= FG_THRESHOLD;
    const g = gt.fg[i] === 1;
    if (p && g) inter++;
    if (p || g) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/**
 * Mean absolute error between the soft matte (alpha / 255) and the binary
 * ground truth over valid pixels. Unlike IoU this rewards soft edges that
 * hedge. Returns 0 when no pixel is valid (nothing to be wrong about).
 */
export function mae(alpha: Uint8Array, gt: MaskTruth): number {
  checkSizes(alpha, gt);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < alpha.length; i++) {
    if (gt.valid[i] === 0) continue;
    sum += Math.abs(alpha[i]! / 255 - gt.fg[i]!);
    count++;
  }
  return count === 0 ? 0 : sum / count;
}

/**
 * DAVIS boundary map (`_seg2bmap` at the mask's own size): a pixel is on the
 * boundary when it differs from its east, south or south-east neighbour. The
 * last row compares east only, the last column south only, and the
 * bottom-right pixel is never a boundary, exactly as in the reference code,
 * so the image border itself is not a boundary. `seg` must hold 0/1 values.
 */
export function boundaryMap(seg: Uint8Array, width: number, height: number): Uint8Array {
  const b = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const lastRow = y === height - 1;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const lastCol = x === width - 1;
      const s = seg[i]!;
      if (lastRow && lastCol) continue;
      if (lastRow) b[i] = s ^ seg[i + 1]!;
      else if (lastCol) b[i] = s ^ seg[i + width]!;
      else b[i] = (s ^ seg[i + 1]!) | (s ^ seg[i + width]!) | (s ^ seg[i + width + 1]!);
    }
  }
  return b;
}

/**
 * Integer offsets of skimage's `disk(radius)`: dx² + dy² <= radius². DAVIS
 * dilates with this structuring element through cv2.dilate.
 */
export function diskOffsets(radius: number): Array<[number, number]> {
  const r = Math.floor(radius);
  const out: Array<[number, number]> = [];
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) {
      if (dx * dx + dy * dy <= radius * radius) out.push([dx, dy]);
    }
  }
  return out;
}

/**
 * Binary dilation by stamping the disk on every set pixel only; boundaries
 * are sparse, so this is far cheaper than scanning the kernel per pixel.
 * Out-of-image neighbours are skipped (cv2's default border adds nothing).
 */
function dilate(map: Uint8Array, width: number, height: number, disk: Array<[number, number]>): Uint8Array {
  const out = new Uint8Array(map.length);
  for (let i = 0; i < map.length; i++) {
    if (map[i] === 0) continue;
    const x = i % width;
    const y = (i - x) / width;
    for (const [dx, dy] of disk) {
      const nx = x + dx;
      const ny = y + dy;
      if (nx >= 0 && nx < width && ny >= 0 && ny < height) out[ny * width + nx] = 1;
    }
  }
  return out;
}

function countAnd(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0 && b[i] !== 0) n++;
  return n;
}

function count(a: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) n++;
  return n;
}

/**
 * DAVIS boundary F-measure (davis2017-evaluation `f_measure` /
 * `db_eval_boundary`). Boundary pixels of prediction and ground truth match
 * when they lie within `boundPix` of each other, where boundPix =
 * ceil(boundTh * image diagonal), or boundTh itself when it is >= 1 (pixels).
 *
 * Void pixels (valid = 0) are set to background in BOTH masks before the
 * boundary maps are taken, as DAVIS does; so the edge of a void region can
 * itself produce boundary pixels, which is the reference behaviour.
 *
 * Edge cases follow DAVIS: both boundaries empty -> P = R = 1; prediction
 * empty only -> P = 1, R = 0; ground truth empty only -> P = 0, R = 1.
 * F = 2PR / (P + R), or 0 when P + R = 0.
 */
export function boundaryF(
  alpha: Uint8Array,
  gt: MaskTruth,
  width: number,
  height: number,
  boundTh = 0.008,
): BoundaryScore {
  checkSizes(alpha, gt, width * height);
  const pred = new Uint8Array(alpha.length);
  const truth = new Uint8Array(alpha.length);
  for (let i = 0; i < alpha.length; i++) {
    if (gt.valid[i] === 0) continue;
    pred[i] = alpha[i]! >= FG_THRESHOLD ? 1 : 0;
    truth[i] = gt.fg[i]! !== 0 ? 1 : 0;
  }
  // sqrt(w² + h²) like np.linalg.norm(shape); Math.hypot may round differently.
  const boundPix = boundTh >= 1 ? boundTh : Math.ceil(boundTh * Math.sqrt(width * width + height * height));
  const disk = diskOffsets(boundPix);
  const fgB = boundaryMap(pred, width, height);
  const gtB = boundaryMap(truth, width, height);
  const nFg = count(fgB);
  const nGt = count(gtB);

  let precision: number;
  let recall: number;
  if (nFg === 0 || nGt === 0) {
    precision = nFg === 0 ? 1 : 0;
    recall = nGt === 0 ? 1 : 0;
  } else {
    precision = countAnd(fgB, dilate(gtB, width, height, disk)) / nFg;
    recall = countAnd(gtB, dilate(fgB, width, height, disk)) / nGt;
  }
  const f = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f };
}
