/**
 * Pixel loops on single-channel float planes (row-major, width x height).
 * libvips has no guided filter, connected components or float box sums on
 * arbitrary planes, so these few run here, in typed arrays, at the work
 * resolution (about 1 Mpx), never at full resolution.
 */

/** Box mean with radius r (window 2r+1, clamped at the borders), separable running sums: O(n) whatever r. */
export function boxMean(src: Float32Array, width: number, height: number, r: number, out = new Float32Array(src.length)): Float32Array {
  const tmp = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let sum = 0;
    for (let x = 0; x <= Math.min(r, width - 1); x++) sum += src[row + x]!;
    for (let x = 0; x < width; x++) {
      const lo = Math.max(0, x - r);
      const hi = Math.min(width - 1, x + r);
      tmp[row + x] = sum / (hi - lo + 1);
      const add = x + r + 1;
      if (add < width) sum += src[row + add]!;
      const drop = x - r;
      if (drop >= 0) sum -= src[row + drop]!;
    }
  }
  const colSum = new Float64Array(width);
  for (let y = 0; y <= Math.min(r, height - 1); y++) {
    for (let x = 0; x < width; x++) colSum[x]! += tmp[y * width + x]!;
  }
  for (let y = 0; y < height; y++) {
    const lo = Math.max(0, y - r);
    const hi = Math.min(height - 1, y + r);
    const inv = 1 / (hi - lo + 1);
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = colSum[x]! * inv;
    const add = y + r + 1;
    if (add < height) for (let x = 0; x < width; x++) colSum[x]! += tmp[add * width + x]!;
    const drop = y - r;
    if (drop >= 0) for (let x = 0; x < width; x++) colSum[x]! -= tmp[drop * width + x]!;
  }
  return out;
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

/** Binary erosion by a (2r+1)-square: a pixel survives when its whole window is set. */
export function erode(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const ones = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) ones[i] = mask[i] ? 1 : 0;
  const mean = boxMean(ones, width, height, r);
  const out = new Uint8Array(mask.length);
  // Border windows are clamped, so a set pixel near the frame edge survives if its
  // in-frame window is full: a pet cut by the frame stays solid up to the edge.
  for (let i = 0; i < mask.length; i++) out[i] = mean[i]! > 0.9999 ? 1 : 0;
  return out;
}

export function dilate(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const ones = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) ones[i] = mask[i] ? 1 : 0;
  const mean = boxMean(ones, width, height, r);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mean[i]! > 1e-6 ? 1 : 0;
  return out;
}
