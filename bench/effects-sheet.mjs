#!/usr/bin/env node
// `npm run effects:sheet`: every effect on every photo in ../shared/fixtures/pets
// (or the folder given), one row per photo, written to out/effects-sheet.png for
// a person to look at. Each photo is cut out once; all styles share it.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createEngine } from '../dist/engine/engine.js';
import { EFFECTS, resolveParams } from '../dist/effects/registry.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const folder = process.argv[2] ?? join(root, '..', 'shared', 'fixtures', 'pets');
if (!existsSync(folder)) throw new Error(`${folder} not found: pass a folder of pet photos`);
const photos = readdirSync(folder).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
const names = Object.keys(EFFECTS);
const CELL = 320, LABEL = 28;
const engine = await createEngine();
const cells = [];
for (const [row, file] of photos.entries()) {
  const result = await engine.process(readFileSync(join(folder, file)), {
    outputs: names.map((effect) => ({ effect, effectParams: resolveParams(effect), size: CELL - 8, format: 'png' })),
  });
  for (const [col, output] of result.outputs.entries()) {
    cells.push({ input: Buffer.from(output.data), left: col * CELL + 4 + Math.round((CELL - 8 - output.width) / 2), top: LABEL + row * CELL + 4 + Math.round((CELL - 8 - output.height) / 2) });
  }
  console.error(`${file}: ${Math.round(result.times.total)} ms for ${names.length} styles`);
}
await engine.close();
const width = names.length * CELL, height = LABEL + photos.length * CELL;
const labels = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${LABEL}">${names.map((n, i) =>
  `<text x="${i * CELL + CELL / 2}" y="20" font-family="sans-serif" font-size="16" text-anchor="middle">${EFFECTS[n].label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`).join('')}</svg>`);
// A light checkerboard shows where the cut-outs are transparent.
const tile = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="#eeeeee"/><rect width="8" height="8" fill="#d8d8d8"/><rect x="8" y="8" width="8" height="8" fill="#d8d8d8"/></svg>')).png().toBuffer();
mkdirSync(join(root, 'out'), { recursive: true });
const out = join(root, 'out', 'effects-sheet.png');
await sharp({ create: { width, height, channels: 4, background: '#ffffff' } })
  .composite([{ input: tile, tile: true, top: LABEL, left: 0 }, { input: labels, top: 0, left: 0 }, ...cells])
  .png().toFile(out);
console.error(`written: ${out} (${photos.length} photos x ${names.length} styles)`);
