// One cold start in a fresh process: process start -> model ready -> first cut-out.
// performance.now() counts from the process's time origin (its start).
import { readFileSync } from 'node:fs';
import { createEngine } from '../dist/index.js';

const image = readFileSync(process.argv[2]);
const importedAt = performance.now();
const engine = await createEngine();
const readyAt = performance.now();
const result = await engine.cutout(image, { format: 'png' });
const firstAt = performance.now();
await engine.close();
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
console.log(JSON.stringify({ importMs: importedAt, readyMs: readyAt, firstCutoutMs: firstAt, peakRssMb: hwm, width: result.width, device: engine.runtime.device, graph: engine.runtime.graph, firstTimes: result.times }));
