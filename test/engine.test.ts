import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';
import type { Engine } from '../src/engine/engine.js';
import type { ProgressEvent } from '../src/engine/index.js';
import { discJpeg, discScene, iouOf } from './images.js';
import { testEngineConfig } from './support/env.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ config: testEngineConfig() });
});
afterAll(async () => {
  await engine?.close();
});

describe('cut-out of a generated scene (real model)', () => {
  it('keeps the disc and removes the background', async () => {
    const { jpeg, truth } = await discJpeg(320, 240, [{ cx: 150, cy: 120, r: 70 }]);
    const result = await engine.segment(jpeg);
    expect(result.width).toBe(320);
    expect(result.height).toBe(240);
    expect(iouOf(result.alpha, truth)).toBeGreaterThan(0.95);
    expect(result.box).not.toBeNull();
    expect(Math.abs(result.box!.x - 80)).toBeLessThanOrEqual(3);
    expect(Math.abs(result.box!.width - 140)).toBeLessThanOrEqual(4);
    expect(result.confidence).toBeGreaterThan(0.8);
  });

  it('drops a small second salient object, and a hint on it picks it instead', async () => {
    const big = { cx: 120, cy: 150, r: 80 };
    const small = { cx: 330, cy: 80, r: 30 };
    const { jpeg } = await discJpeg(400, 300, [big, small]);
    const bigOnly = discScene(400, 300, [big]).truth;
    const smallOnly = discScene(400, 300, [small]).truth;
    const plain = await engine.segment(jpeg);
    expect(iouOf(plain.alpha, bigOnly)).toBeGreaterThan(0.95);
    const hinted = await engine.segment(jpeg, { hint: { x: 330, y: 80 } });
    expect(iouOf(hinted.alpha, smallOnly)).toBeGreaterThan(0.85);
    const everything = await engine.segment(jpeg, { subject: false });
    expect(iouOf(everything.alpha, discScene(400, 300, [big, small]).truth)).toBeGreaterThan(0.9);
  });

  it('applies EXIF orientation before anything else', async () => {
    // Stored landscape 320x240 with the disc on the left; orientation 6 means
    // "rotate 90° clockwise to display": the shown image is 240x320 with the disc at the top.
    const { rgb } = discScene(320, 240, [{ cx: 90, cy: 120, r: 60 }]);
    const jpeg = await sharp(rgb, { raw: { width: 320, height: 240, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const result = await engine.cutout(jpeg, { format: 'png' });
    expect([result.width, result.height]).toEqual([240, 320]);
    expect(result.box).not.toBeNull();
    const centreY = result.box!.y + result.box!.height / 2;
    const centreX = result.box!.x + result.box!.width / 2;
    expect(centreY).toBeGreaterThan(60);
    expect(centreY).toBeLessThan(120);
    expect(Math.abs(centreX - 120)).toBeLessThan(10);
  });
});

describe('outputs', () => {
  let jpeg: Buffer;
  beforeAll(async () => {
    jpeg = (await discJpeg(320, 240, [{ cx: 160, cy: 120, r: 60 }])).jpeg;
  });

  it.each([
    ['png', 'image/png', 'png'],
    ['webp', 'image/webp', 'webp'],
    ['jpeg', 'image/jpeg', 'jpeg'],
  ] as const)('%s: the bytes are what the content type says', async (format, contentType, sharpFormat) => {
    const result = await engine.cutout(jpeg, { format });
    expect(result.contentType).toBe(contentType);
    const meta = await sharp(result.data).metadata();
    expect(meta.format).toBe(sharpFormat);
    expect(meta.hasAlpha).toBe(format !== 'jpeg');
  });

  it('PNG: transparent outside the pet, opaque inside', async () => {
    const result = await engine.cutout(jpeg, { format: 'png' });
    const { data, info } = await sharp(result.data).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    expect(data[(5 * 320 + 5) * 4 + 3]).toBe(0);
    expect(data[(120 * 320 + 160) * 4 + 3]).toBe(255);
  });

  it('JPEG goes on the chosen background colour', async () => {
    const result = await engine.cutout(jpeg, { format: 'jpeg', background: '#ff0000', quality: 95 });
    const { data } = await sharp(result.data).raw().toBuffer({ resolveWithObject: true });
    const corner = [data[0]!, data[1]!, data[2]!];
    expect(corner[0]).toBeGreaterThan(240);
    expect(corner[1]).toBeLessThan(15);
    expect(corner[2]).toBeLessThan(15);
  });

  it('a background image fills the frame behind the pet', async () => {
    const backdrop = await sharp({ create: { width: 50, height: 50, channels: 3, background: '#0000ff' } }).png().toBuffer();
    const result = await engine.cutout(jpeg, { format: 'png', background: backdrop });
    const { data, info } = await sharp(result.data).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number, c: number): number => data[(y * info.width + x) * info.channels + c]!;
    expect(at(3, 3, 2)).toBeGreaterThan(240);
    expect(at(3, 3, 0)).toBeLessThan(15);
    expect(at(160, 120, 2)).toBeLessThan(120);
  });

  it('crops to the subject with a margin', async () => {
    const result = await engine.cutout(jpeg, { crop: true, cropMargin: 0.1 });
    // Disc of diameter ~120 plus 10 % of 120 on each side.
    expect(result.width).toBeGreaterThanOrEqual(138);
    expect(result.width).toBeLessThanOrEqual(150);
    expect(result.box!.x).toBeGreaterThanOrEqual(9);
    expect(result.box!.x).toBeLessThanOrEqual(15);
  });

  it('mask only: one grey channel with the alpha', async () => {
    const result = await engine.cutout(jpeg, { maskOnly: true });
    expect((await sharp(result.data).metadata()).channels).toBe(1);
    const { data } = await sharp(result.data).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect(data[120 * 320 + 160]).toBe(255);
    expect(data[0]).toBe(0);
  });

  it('preview and explicit sizes never upscale', async () => {
    const big = (await discJpeg(1600, 1200, [{ cx: 800, cy: 600, r: 300 }])).jpeg;
    const preview = await engine.cutout(big, { size: 'preview', format: 'webp' });
    expect([preview.width, preview.height]).toEqual([1024, 768]);
    const small = await engine.cutout(jpeg, { size: 2000 });
    expect([small.width, small.height]).toEqual([320, 240]);
  });

  it('rejects bad option values with a coded error', async () => {
    await expect(engine.cutout(jpeg, { quality: 0 })).rejects.toMatchObject({ code: 'PETCUT_E_INVALID_OPTION' });
    await expect(engine.cutout(jpeg, { background: 'red' })).rejects.toMatchObject({ code: 'PETCUT_E_INVALID_OPTION', message: expect.stringContaining('background') });
    await expect(engine.cutout(jpeg, { size: -3 })).rejects.toMatchObject({ code: 'PETCUT_E_INVALID_OPTION' });
  });
});

describe('runtime', () => {
  it('reports the device it actually uses and why', () => {
    expect(['cpu', 'cuda']).toContain(engine.runtime.device);
    expect(engine.runtime.deviceReason.length).toBeGreaterThan(5);
    expect(engine.runtime.model).toBe('isnet');
  });

  it('keeps the event loop free while images are processed: it answers a probe during every stage that does work', async () => {
    // How long the loop stalls is measured by `npm run bench` (stages section, eventLoopDuringCutouts).
    const { jpeg } = await discJpeg(1200, 900, [{ cx: 600, cy: 450, r: 250 }]);
    const probes = [loopProbe(), loopProbe()];
    await Promise.all(probes.map((probe) => engine.process(jpeg, { outputs: [{ format: 'png' }] }, { onProgress: probe.stage }).then(probe.done)));
    for (const probe of probes) {
      const heavy = probe.transitions.filter((t) => WORKING_STAGES.includes(t.from));
      // Each image went through the model, the refinement and the encoder, in the workers...
      expect(heavy.map((t) => t.from)).toEqual(WORKING_STAGES);
      // ...while this thread was free to run a callback set at the start of each.
      expect(heavy.filter((t) => !t.answered), JSON.stringify(probe.transitions)).toEqual([]);
    }
  });
});

/**
 * Stages whose work (model run, full-resolution refinement, encoding) takes
 * the worker long enough that a free event loop always answers in between.
 * Not `decode` (a small JPEG decodes in milliseconds) nor `effect` (none for
 * the plain cut-out: `encode` follows at once), whose next event may arrive
 * in the same batch of worker messages.
 */
const WORKING_STAGES = ['segmentation', 'refine', 'encode'];

/**
 * At each stage event of one image, sets a setImmediate callback and records
 * whether the one set at the previous event has run: it can only have run if
 * the event loop came round between the two events (pixel work on this
 * thread would hold it).
 */
function loopProbe(): { stage: (event: ProgressEvent) => void; done: () => void; transitions: Array<{ from: string; to: string; answered: boolean }> } {
  const transitions: Array<{ from: string; to: string; answered: boolean }> = [];
  let last = 'start';
  let answered = true;
  const mark = (to: string): void => {
    transitions.push({ from: last, to, answered });
    last = to;
    answered = false;
    setImmediate(() => (answered = true));
  };
  return { stage: (event) => mark(event.stage), done: () => mark('done'), transitions };
}
