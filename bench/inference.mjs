// Inference alone for one model and memory setting, in its own process:
// node bench/inference.mjs <model> <arena 0|1> <memPattern 0|1> <image>
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { loadEngineConfig } from '../dist/index.js';
import { describeModel } from '../dist/engine/engine.js';
import { resolveModelFile } from '../dist/inference/modelCache.js';
import { createRuntime } from '../dist/inference/runtime.js';
import { toModelTensor } from '../dist/inference/tensor.js';

const [name, arena, pattern, image] = process.argv.slice(2);
const config = loadEngineConfig(process.env, { model: name });
const model = describeModel(config);
const runtime = await createRuntime({ modelPath: await resolveModelFile(model, config.modelCacheDir), model, device: config.device, threads: config.threads, memArena: arena === '1', memPattern: pattern === '1' });
const rgb = await sharp(readFileSync(image)).resize(model.inputSize, model.inputSize, { fit: 'fill' }).removeAlpha().raw().toBuffer();
const ms = [];
for (let i = 0; i < 4; i++) ms.push((await runtime.infer(toModelTensor(rgb, model))).ms);
await runtime.close();
const warm = ms.slice(1).sort((a, b) => a - b)[1];
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
console.log(JSON.stringify({ firstMs: Math.round(ms[0]), warmMs: Math.round(warm), peakRssMb: Math.round(hwm) }));
