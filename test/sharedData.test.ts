import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';
import type { Engine } from '../src/engine/engine.js';
import { readGroundTruth } from '../src/eval/maskReader.js';
import { iou } from '../src/eval/metrics.js';
import { testEngineConfig } from './support/env.js';
import { sharedPath, sharedPresent } from './support/shared.js';

// Real photos from ../shared (not in the repo): skipped with a message where absent, an error under CI=true.
const present = sharedPresent('fixtures/pets', 'eval-dev');

let engine: Engine;
beforeAll(async () => {
  if (present) engine = await createEngine({ config: testEngineConfig() });
});
afterAll(async () => {
  await engine?.close();
});

describe.skipIf(!present)('real pet photos from ../shared', () => {
  it.each(['cat_chelsea_skimage.png', 'dog_saluki_gfm_sample3.jpg', 'rabbit_am2k_sample5.jpg'])('%s: a subject of plausible size, confidently found', async (name) => {
    const result = await engine.segment(await readFile(sharedPath('fixtures', 'pets', name)));
    let opaque = 0;
    for (const v of result.alpha) if (v >= 128) opaque++;
    const share = opaque / result.alpha.length;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.9);
    expect(result.confidence).toBeGreaterThan(0.6);
  });

  it.each([['dog_00000', 0.9], ['camel_00000', 0.9], ['libby_00000', 0.85]] as const)('eval-dev %s: IoU above %s', async (name, floor) => {
    const gt = await readGroundTruth(sharedPath('eval-dev', 'masks', `${name}.png`));
    const result = await engine.segment(await readFile(sharedPath('eval-dev', 'images', `${name}.jpg`)));
    expect(iou(result.alpha, gt)).toBeGreaterThan(floor);
  });
});
