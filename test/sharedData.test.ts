import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';
import type { Engine } from '../src/engine/engine.js';
import { readGroundTruth } from '../src/eval/maskReader.js';
import { iou } from '../src/eval/metrics.js';

// Real photos from ../shared (not in the repo). Skipped, with a message, where absent.
const shared = new URL('../../shared', import.meta.url).pathname;
const present = existsSync(join(shared, 'fixtures', 'pets')) && existsSync(join(shared, 'eval-dev'));
if (!present) console.warn(`skipping real-photo tests: ${shared} not found`);

let engine: Engine;
beforeAll(async () => {
  if (present) engine = await createEngine();
});
afterAll(async () => {
  await engine?.close();
});

describe.skipIf(!present)('real pet photos from ../shared', () => {
  it.each(['cat_chelsea_skimage.png', 'dog_saluki_gfm_sample3.jpg', 'rabbit_am2k_sample5.jpg'])('%s: a subject of plausible size, confidently found', async (name) => {
    const result = await engine.segment(await readFile(join(shared, 'fixtures', 'pets', name)));
    let opaque = 0;
    for (const v of result.alpha) if (v >= 128) opaque++;
    const share = opaque / result.alpha.length;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.9);
    expect(result.confidence).toBeGreaterThan(0.6);
  });

  it.each([['dog_00000', 0.9], ['camel_00000', 0.9], ['libby_00000', 0.85]] as const)('eval-dev %s: IoU above %s', async (name, floor) => {
    const gt = await readGroundTruth(join(shared, 'eval-dev', 'masks', `${name}.png`));
    const result = await engine.segment(await readFile(join(shared, 'eval-dev', 'images', `${name}.jpg`)));
    expect(iou(result.alpha, gt)).toBeGreaterThan(floor);
  });
});
