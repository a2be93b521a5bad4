// Memory over many images in a row: RSS sampled after each, to show it stays flat.
import { readFileSync } from 'node:fs';
import { createEngine } from '../dist/index.js';

const [count, ...files] = process.argv.slice(2);
const images = files.map((f) => readFileSync(f));
const engine = await createEngine();
const samples = [];
const started = performance.now();
for (let i = 0; i < Number(count); i++) {
  await engine.cutout(images[i % images.length], { format: 'png' });
  samples.push(Math.round(process.memoryUsage().rss / 1048576));
}
await engine.close();
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const tenth = Math.max(1, Math.floor(samples.length / 10));
const avg = (xs) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
const curve = samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 10)) === 0);
console.log(JSON.stringify({ images: samples.length, rssCurveMb: curve, seconds: Math.round((performance.now() - started) / 1000), firstTenthRssMb: avg(samples.slice(0, tenth)), lastTenthRssMb: avg(samples.slice(-tenth)), peakRssMb: Math.round(hwm) }));
