// Pet finding (issue #18): the class models choose what the cut-out keeps, on
// real photos from ../shared (skipped with a message where absent, an error
// under CI=true), and on a generated photo with no pet in it.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';
import type { Engine } from '../src/engine/engine.js';
import type { FoundSubject } from '../src/engine/index.js';
import type { Box } from '../src/image/types.js';
import { readGroundTruth } from '../src/eval/maskReader.js';
import { iou } from '../src/eval/metrics.js';
import { testEngineConfig } from './support/env.js';
import { sharedPath, sharedPresent } from './support/shared.js';

const present = sharedPresent('fixtures/pets', 'eval-animals', 'eval-dev');

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ config: testEngineConfig() });
});
afterAll(async () => {
  await engine?.close();
});

/** Share of a box's pixels (source coordinates) that are mostly opaque in the cut-out. */
function coverage(alpha: Uint8Array, width: number, box: Box): number {
  let opaque = 0;
  let all = 0;
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++, all++) if (alpha[y * width + x]! >= 128) opaque++;
  }
  return all ? opaque / all : 0;
}

const animals = (subjects: readonly FoundSubject[] | undefined, label: string) => (subjects ?? []).filter((s) => s.label === label);
const opaqueCount = (alpha: Uint8Array) => alpha.reduce((n, v) => n + (v >= 128 ? 1 : 0), 0);
const photo = (set: string, name: string) => readFile(sharedPath(set, 'images', `${name}.jpg`));

describe('pet finding without ../shared', () => {
  it('a photo with no animal: the saliency cut-out still comes back, flagged petFound false', async () => {
    // A blue box on a grey gradient: salient, and no animal for either class model.
    const gradient = Buffer.alloc(480 * 360 * 3);
    for (let i = 0; i < 480 * 360; i++) gradient.fill(150 + ((i % 480) >> 4), i * 3, i * 3 + 3);
    const input = await sharp(gradient, { raw: { width: 480, height: 360, channels: 3 } })
      .composite([{ input: Buffer.from('<svg width="480" height="360"><rect x="160" y="100" width="160" height="170" rx="20" fill="#1d4fd8"/></svg>') }])
      .jpeg().toBuffer();
    const result = await engine.segment(input);
    expect(result.petFound).toBe(false);
    expect((result.subjects ?? []).some((s) => s.kept)).toBe(false);
    expect(opaqueCount(result.alpha)).toBeGreaterThan(0.05 * result.alpha.length);
    // all-salient says nothing about pets.
    const salient = await engine.segment(input, { keep: 'all-salient' });
    expect(salient.petFound).toBeUndefined();
    expect(salient.subjects).toBeUndefined();
  });
});

describe.skipIf(!present)('pet finding on real photos', () => {
  it('a cat photo: a cat found and kept, petFound true', async () => {
    const result = await engine.segment(await readFile(sharedPath('fixtures', 'pets', 'cat_chelsea_skimage.png')));
    expect(result.petFound).toBe(true);
    expect(animals(result.subjects, 'cat').some((s) => s.kept && s.score > 0.5)).toBe(true);
  });

  it('a man leading a horse: the horse kept, the man dropped; with people the man is kept as well', async () => {
    const input = await photo('eval-animals', 'voc_horse_img_1002');
    const result = await engine.segment(input);
    const horse = animals(result.subjects, 'horse')[0]!;
    const man = animals(result.subjects, 'person')[0]!;
    expect(horse.kept).toBe(true);
    expect(man.kept).toBe(false);
    expect(coverage(result.alpha, result.width, horse.box)).toBeGreaterThan(0.3);
    expect(coverage(result.alpha, result.width, man.box)).toBeLessThan(0.05);
    const withPeople = await engine.segment(input, { people: true });
    expect(animals(withPeople.subjects, 'person')[0]!.kept).toBe(true);
    expect(coverage(withPeople.alpha, withPeople.width, man.box)).toBeGreaterThan(coverage(result.alpha, result.width, man.box) + 0.2);
  });

  it('five birds on a branch: pets keeps them all, largest-pet one, a tap on a smaller bird that one', async () => {
    const input = await photo('eval-animals', 'voc_bird_img_1036');
    const gt = await readGroundTruth(sharedPath('eval-animals', 'masks', 'voc_bird_img_1036.png'));
    const every = await engine.segment(input);
    const salient = await engine.segment(input, { keep: 'all-salient' });
    const birds = animals(every.subjects, 'bird');
    expect(birds.filter((b) => b.kept).length).toBeGreaterThanOrEqual(3);
    // Saliency keeps the one bird it likes best (measured 0.44); every bird is worth far more.
    expect(iou(every.alpha, gt)).toBeGreaterThan(iou(salient.alpha, gt) + 0.2);
    const area = (b: Box) => b.width * b.height;
    const largest = await engine.segment(input, { keep: 'largest-pet' });
    expect(largest.subjects!.filter((s) => s.kept)).toHaveLength(1);
    expect(opaqueCount(largest.alpha)).toBeLessThan(0.8 * opaqueCount(every.alpha));
    const big = largest.subjects!.find((s) => s.kept)!;
    const other = birds.filter((b) => area(b.box) < area(big.box) && coverage(every.alpha, every.width, b.box) > 0.25)
      .find((b) => coverage(largest.alpha, largest.width, b.box) < 0.05)!;
    expect(other).toBeDefined();
    const tap = { x: (other.box.x + other.box.width / 2) / every.width, y: (other.box.y + other.box.height / 2) / every.height };
    const tapped = await engine.segment(input, { keep: 'point', point: tap });
    expect(tapped.petFound).toBe(true);
    expect(tapped.subjects!.filter((s) => s.kept)).toHaveLength(1);
    expect(coverage(tapped.alpha, tapped.width, other.box)).toBeGreaterThan(0.25);
    expect(coverage(tapped.alpha, tapped.width, big.box)).toBeLessThan(0.05);
  });

  it.each([
    // A cow lying on a beach, two women standing behind it: saliency keeps them too (measured 0.77 -> 0.89).
    ['voc_cow_img_1029', 0.08],
    // A face at a car window in front of a flock: saliency keeps the face and the car (0.00 -> 0.56).
    ['voc_sheep_img_1033', 0.4],
  ] as const)('%s: what stands beside the animals is dropped (IoU gains at least %s over saliency)', async (name, gain) => {
    const input = await photo('eval-animals', name);
    const gt = await readGroundTruth(sharedPath('eval-animals', 'masks', `${name}.png`));
    const pets = await engine.segment(input);
    const salient = await engine.segment(input, { keep: 'all-salient' });
    expect(pets.petFound).toBe(true);
    expect((pets.subjects ?? []).filter((s) => s.label === 'person').every((s) => !s.kept)).toBe(true);
    expect(iou(pets.alpha, gt)).toBeGreaterThan(iou(salient.alpha, gt) + gain);
  });

  it('the rabbit (not a COCO class) is not cut worse than by saliency alone', async () => {
    const input = await readFile(sharedPath('fixtures', 'pets', 'rabbit_am2k_sample5.jpg'));
    const pets = await engine.segment(input);
    const salient = await engine.segment(input, { keep: 'all-salient' });
    let both = 0;
    for (let i = 0; i < pets.alpha.length; i++) if (pets.alpha[i]! >= 128 && salient.alpha[i]! >= 128) both++;
    expect(both).toBeGreaterThan(0.9 * opaqueCount(salient.alpha));
    expect(opaqueCount(pets.alpha)).toBeLessThan(1.15 * opaqueCount(salient.alpha));
  });

  it('DAVIS dog (not a VOC photo): pet finding keeps the IoU of the saliency cut-out', async () => {
    const input = await photo('eval-dev', 'dog_00000');
    const gt = await readGroundTruth(sharedPath('eval-dev', 'masks', 'dog_00000.png'), { ignoreValue: 255 });
    const pets = await engine.segment(input);
    const salient = await engine.segment(input, { keep: 'all-salient' });
    expect(pets.petFound).toBe(true);
    expect(iou(pets.alpha, gt)).toBeGreaterThan(iou(salient.alpha, gt) - 0.01);
  });
});
