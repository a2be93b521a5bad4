#!/usr/bin/env node
// Effect timings: node bench/effects.mjs <12mp.jpg> [effect...] -> JSON.
// Cuts the pet out once (the engine), then times each effect's apply() on the
// cut-out at 1024x1024 and 4000x3000, here on one thread (the way a pipeline
// worker runs it), median of 3, and the RSS growth during the 4000x3000 runs.
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { createEngine } from '../dist/engine/engine.js';
import { contextFor } from '../dist/effects/kit.js';
import { EFFECTS, resolveParams } from '../dist/effects/registry.js';

const photo = readFileSync(process.argv[2]);
const names = process.argv.slice(3).length ? process.argv.slice(3) : Object.keys(EFFECTS).filter((n) => n !== 'color');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const engine = await createEngine();
const { master } = await engine.process(photo, { outputs: [{ format: 'png', size: 64 }], master: true });
await engine.close();

async function cutoutAt(width, height) {
  const { data } = await sharp(Buffer.from(master)).resize(width, height, { fit: 'fill' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = width * height;
  const rgb = Buffer.allocUnsafe(n * 3);
  const alpha = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = data[i * 4]; rgb[i * 3 + 1] = data[i * 4 + 1]; rgb[i * 3 + 2] = data[i * 4 + 2]; alpha[i] = data[i * 4 + 3];
  }
  return { width, height, rgb, alpha };
}

sharp.concurrency(1); // one core, as the target says
const small = await cutoutAt(1024, 1024);
const large = await cutoutAt(4000, 3000);
const results = {};
for (const name of names) {
  const effect = EFFECTS[name];
  const params = resolveParams(name);
  const time = async (image) => {
    const t = performance.now();
    await effect.apply(image, params, contextFor(image));
    return performance.now() - t;
  };
  await time(small);
  const smallMs = [await time(small), await time(small), await time(small)];
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const largeMs = [await time(large), await time(large), await time(large)];
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  results[name] = { ms1024: Math.round(median(smallMs)), ms4000x3000: Math.round(median(largeMs)), rssGrowth4000x3000Mb: Math.round((peak - before) / 1048576) };
}
console.log(JSON.stringify({ frameMb4000x3000: +(4000 * 3000 * 3 / 1048576).toFixed(1), effects: results }));
