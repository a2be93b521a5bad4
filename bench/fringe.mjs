#!/usr/bin/env node
// Colour fringe: node bench/fringe.mjs [dist-dir] [photo...] -> JSON.
// Cuts each photo out (the pet fixtures by default) and measures the old
// background left in its edge colours (src/image/fringe.ts: `leak` 0..1 and
// `visible` in 8-bit levels, for the semi-transparent edge and the opaque
// rim), for the cut-out's colours ("out") and, as the baseline, the photo's
// own colours under the same alpha ("raw": no decontamination at all).
// dist-dir (default ../dist) lets a build of an older commit be measured the
// same way: tsc -p tsconfig.build.json --outDir <dir> on that commit's src.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [distArg, ...photoArgs] = process.argv.slice(2);
const dist = resolve(distArg ?? join(root, 'dist'));
const pets = join(root, '..', 'shared', 'fixtures', 'pets');
const photos = photoArgs.length ? photoArgs : existsSync(pets) ? readdirSync(pets).filter((f) => /\.(jpe?g|png)$/i.test(f)).map((f) => join(pets, f)) : [];

const { createEngine } = await import(pathToFileURL(join(dist, 'engine', 'engine.js')).href);
// An older build without the metric is judged by this checkout's build of it (the same ruler).
const metric = existsSync(join(dist, 'image', 'fringe.js')) ? dist : join(root, 'dist');
const { measureFringe } = await import(pathToFileURL(join(metric, 'image', 'fringe.js')).href);

async function planes(input, rotate) {
  const image = rotate ? sharp(input).rotate() : sharp(input);
  const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const rgb = new Uint8Array(n * 3), alpha = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = data[i * 4]; rgb[i * 3 + 1] = data[i * 4 + 1]; rgb[i * 3 + 2] = data[i * 4 + 2]; alpha[i] = data[i * 4 + 3];
  }
  return { width: info.width, height: info.height, rgb, alpha };
}

const brief = (s) => ({ edge: s.edge, rim: s.rim });
const engine = await createEngine();
const out = { dist, photos: {} };
try {
  for (const file of photos) {
    const input = readFileSync(file);
    const photo = await planes(input, true);
    const { master } = await engine.process(input, { outputs: [{ format: 'png', size: 64 }], master: true });
    const cut = await planes(Buffer.from(master), false);
    const args = [cut.alpha, cut.width, cut.height];
    out.photos[file.split('/').pop()] = {
      out: brief(measureFringe(photo.rgb, cut.rgb, ...args)),
      raw: brief(measureFringe(photo.rgb, photo.rgb, ...args)),
    };
  }
} finally {
  await engine.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
