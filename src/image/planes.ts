/**
 * Pixel loops on single-channel float planes (row-major, width x height).
 * libvips has no guided filter, connected components or float box sums on
 * arbitrary planes, so these few run here, in typed arrays, at the work
 * resolution (about 1 Mpx), never at full resolution.
 */

/** For each index: the clamped window [lo, hi] of radius r and 1 / its length. */
function windows(length: number, r: number): { lo: Int32Array; hi: Int32Array; inv: Float64Array } {
  const lo = new Int32Array(length), hi = new Int32Array(length), inv = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    lo[i] = Math.max(0, i - r);
    hi[i] = Math.min(length - 1, i + r) + 1;
    inv[i] = 1 / (hi[i]! - lo[i]!);
  }
  return { lo, hi, inv };
}

/**
 * Box mean with radius r (window 2r+1, clamped at the borders): rows from
 * float64 prefix sums, columns from a running sum of rows. O(n) whatever r,
 * no per-pixel branches.
 */
export function boxMean(src: Float32Array, width: number, height: number, r: number, out = new Float32Array(src.length)): Float32Array {
  const h = windows(width, r);
  const tmp = new Float32Array(src.length);
  const prefix = new Float64Array(width + 1);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) prefix[x + 1] = prefix[x]! + src[row + x]!;
    for (let x = 0; x < width; x++) tmp[row + x] = (prefix[h.hi[x]!]! - prefix[h.lo[x]!]!) * h.inv[x]!;
  }
  const sum = new Float64Array(width);
  for (let y = 0; y < Math.min(r, height); y++) addRow(sum, tmp, y * width, 1);
  for (let y = 0; y < height; y++) {
    if (y + r < height) addRow(sum, tmp, (y + r) * width, 1);
    if (y - r - 1 >= 0) addRow(sum, tmp, (y - r - 1) * width, -1);
    const inv = 1 / (Math.min(height - 1, y + r) - Math.max(0, y - r) + 1);
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = sum[x]! * inv;
  }
  return out;
}

function addRow(sum: Float64Array, plane: Float32Array, start: number, sign: 1 | -1): void {
  const width = sum.length;
  if (sign > 0) for (let x = 0; x < width; x++) sum[x]! += plane[start + x]!;
  else for (let x = 0; x < width; x++) sum[x]! -= plane[start + x]!;
}

/** Bilinear resize of a float plane (pixel centres aligned, as libvips and OpenCV do). */
export function resizePlane(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const out = new Float32Array(dw * dh);
  const sx = sw / dw;
  const sy = sh / dh;
  const x0s = new Int32Array(dw);
  const x1s = new Int32Array(dw);
  const fxs = new Float32Array(dw);
  for (let x = 0; x < dw; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
    x0s[x] = Math.floor(fx);
    x1s[x] = Math.min(x0s[x]! + 1, sw - 1);
    fxs[x] = fx - x0s[x]!;
  }
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    const r0 = y0 * sw;
    const r1 = y1 * sw;
    const row = y * dw;
    for (let x = 0; x < dw; x++) {
      const a = x0s[x]!;
      const b = x1s[x]!;
      const wx = fxs[x]!;
      const top = src[r0 + a]! + (src[r0 + b]! - src[r0 + a]!) * wx;
      const bottom = src[r1 + a]! + (src[r1 + b]! - src[r1 + a]!) * wx;
      out[row + x] = top + (bottom - top) * wy;
    }
  }
  return out;
}

/**
 * Labels the 8-connected components of `mask` (non-zero = set). Returns the
 * label plane (0 = background, 1..count) and each component's area.
 */
export function labelComponents(mask: Uint8Array, width: number, height: number): { labels: Int32Array; count: number; areas: number[] } {
  const labels = new Int32Array(mask.length);
  const stack = new Int32Array(mask.length);
  const areas: number[] = [0];
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    count++;
    let area = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = count;
    while (top > 0) {
      const i = stack[--top]!;
      area++;
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const j = ny * width + nx;
          if (mask[j] && !labels[j]) {
            labels[j] = count;
            stack[top++] = j;
          }
        }
      }
    }
    areas.push(area);
  }
  return { labels, count, areas };
}

/** Binary dilation by a (2r+1)-square. */
export function dilate(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const ones = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) ones[i] = mask[i] ? 1 : 0;
  const mean = boxMean(ones, width, height, r);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mean[i]! > 1e-6 ? 1 : 0;
  return out;
}
