import sharp from 'sharp';

/**
 * Test images generated in the test: a dark, textured disc (the "pet") on a
 * bright, differently textured background. Deterministic (no Math.random).
 */
export interface Disc { cx: number; cy: number; r: number }

export function discScene(width: number, height: number, discs: Disc[]): { rgb: Buffer; truth: Uint8Array } {
  const rgb = Buffer.alloc(width * height * 3);
  const truth = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const inside = discs.some((d) => (x - d.cx) ** 2 + (y - d.cy) ** 2 <= d.r * d.r);
      truth[i] = inside ? 1 : 0;
      const noise = ((x * 7919 + y * 104729) % 31) - 15;
      if (inside) {
        const stripe = Math.sin(x / 3) * Math.cos(y / 4) * 25;
        rgb[i * 3] = clamp(110 + stripe + noise);
        rgb[i * 3 + 1] = clamp(60 + stripe + noise);
        rgb[i * 3 + 2] = clamp(30 + noise);
      } else {
        const check = ((x >> 4) + (y >> 4)) % 2 ? 12 : -12;
        rgb[i * 3] = clamp(200 + check + noise);
        rgb[i * 3 + 1] = clamp(225 + check + noise);
        rgb[i * 3 + 2] = clamp(235 + check);
      }
    }
  }
  return { rgb, truth };
}

const clamp = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

export async function discJpeg(width: number, height: number, discs: Disc[], quality = 92): Promise<{ jpeg: Buffer; truth: Uint8Array }> {
  const { rgb, truth } = discScene(width, height, discs);
  const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return { jpeg, truth };
}

/** IoU of alpha >= 128 against a 0/1 truth plane. */
export function iouOf(alpha: Uint8Array, truth: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < truth.length; i++) {
    const a = alpha[i]! >= 128;
    const t = truth[i] === 1;
    if (a && t) inter++;
    if (a || t) union++;
  }
  return union === 0 ? 1 : inter / union;
}
