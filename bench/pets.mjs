// One engine, with or without pet finding, in its own process (onnxruntime-node's addon cannot be loaded twice
// in one process): `node bench/pets.mjs on|off photo.jpg` prints JSON: start-up, peak RSS, warm 12 MP cut-outs.
import { readFileSync } from 'node:fs';
import { createEngine, loadEngineConfig } from '../dist/index.js';

const [mode, photo] = process.argv.slice(2);
const bytes = readFileSync(photo);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const started = performance.now();
const engine = await createEngine({ config: loadEngineConfig(process.env, { petFinding: mode === 'on' }) });
const readyMs = performance.now() - started;
await engine.cutout(bytes, { format: 'png' });
const firstMs = performance.now() - started;
const pets = [], salient = [], classes = [];
for (let i = 0; i < 5; i++) {
  const t = (await engine.cutout(bytes, { format: 'png' })).times;
  pets.push(t.total);
  classes.push(t.classes ?? 0);
  salient.push((await engine.cutout(bytes, { format: 'png', keep: 'all-salient' })).times.total);
}
const rssMb = Math.round(process.resourceUsage().maxRSS / 1024);
await engine.close();
console.log(JSON.stringify({ readyMs: Math.round(readyMs), firstCutoutMs: Math.round(firstMs), rssMb, petsMs: Math.round(median(pets)), salientMs: Math.round(median(salient)), classesMs: Math.round(median(classes)) }));
