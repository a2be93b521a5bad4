#!/usr/bin/env node
// fp32 vs int8 ISNet on CPU: warm inference time (interleaved, same input) and
// IoU of the raw mask (model output upscaled bilinearly, thresholded at 0.5)
// against ground truth, per set. Both sessions live in this process's main
// thread. Run `npm run build` first (it loads dist/).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { loadEngineConfig } from '../dist/index.js';
import { describeModel } from '../dist/engine/engine.js';
import { resolveModelFile } from '../dist/inference/modelCache.js';
import { toModelTensor, toProbability } from '../dist/inference/tensor.js';
import { decodeModelInput } from '../dist/image/decode.js';
import { resizePlane } from '../dist/image/planes.js';
import { pairsFromManifest } from '../dist/eval/dataset.js';
import { readGroundTruth } from '../dist/eval/maskReader.js';
import { iou } from '../dist/eval/metrics.js';

const HELP = `Usage: node bench/int8.mjs --int8 <file[,file...]> [options]

Compares the fp32 ISNet with int8 ones: warm inference ms (median, runs
interleaved on one photo) and mean IoU of the raw masks against ground truth.

Options:
  --int8 <files>     int8 models (from scripts/models/quantize-int8.mjs),
                     comma-separated; each is named by its file name
  --fp32 <file>      fp32 model (default: the model cache's isnet file)
  --sets <list>      manifests, comma-separated (default:
                     ../shared/eval-dev/manifest.tsv,../shared/eval-animals/manifest.tsv)
  --every <k>        only every k-th row of each set (default: 1)
  --runs <n>         timed warm runs per model (default: 7)
  --threads <n>      intra-op threads (default: 2)
  --json <file>      write the results here too
  -h, --help         this text

Example:
  nice -n 15 node bench/int8.mjs --int8 /tmp/isnet-int8.onnx,/tmp/isnet-int8-enc.onnx --json /tmp/int8.json`;

const { values } = parseArgs({
  options: {
    int8: { type: 'string' },
    fp32: { type: 'string' },
    sets: { type: 'string', default: '../shared/eval-dev/manifest.tsv,../shared/eval-animals/manifest.tsv' },
    every: { type: 'string', default: '1' },
    runs: { type: 'string', default: '7' },
    threads: { type: 'string', default: '2' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
function positive(field, max) {
  const n = Number(values[field]);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`--${field}: an integer 1-${max}, got "${values[field]}"`);
    process.exit(2);
  }
  return n;
}
if (!values.int8) {
  console.error('--int8: the int8 model file is required (see --help)');
  process.exit(2);
}
const every = positive('every', 1000);
const runs = positive('runs', 100);
const threads = positive('threads', 64);

const config = loadEngineConfig(process.env, { model: 'isnet' });
const model = describeModel(config);
const files = { fp32: values.fp32 ?? (await resolveModelFile(model, config.modelCacheDir)) };
for (const file of values.int8.split(',').map((f) => f.trim()).filter(Boolean)) files[basename(file, '.onnx')] = file;
const names = Object.keys(files);
const variants = names.slice(1);
const sessions = {};
for (const [name, file] of Object.entries(files)) {
  const started = performance.now();
  sessions[name] = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  process.stderr.write(`${name}: loaded in ${Math.round(performance.now() - started)} ms\n`);
}

async function infer(name, tensor) {
  const input = new ort.Tensor('float32', tensor, [1, 3, model.inputSize, model.inputSize]);
  const started = performance.now();
  const result = await sessions[name].run({ [model.inputName]: input }, [model.outputName]);
  return { ms: performance.now() - started, output: toProbability(new Float32Array(result[model.outputName].data), model) };
}

function alphaAt(probability, width, height) {
  const plane = resizePlane(probability, model.inputSize, model.inputSize, width, height);
  return Uint8Array.from(plane, (p) => Math.round(Math.min(1, Math.max(0, p)) * 255));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sets = values.sets.split(',').map((s) => s.trim()).filter(Boolean);
const firstPairs = await pairsFromManifest(resolve(sets[0]));
const speedTensor = toModelTensor(await decodeModelInput(readFileSync(firstPairs[0].image), model.inputSize, { maxPixels: 100e6 }), model);
const times = Object.fromEntries(names.map((n) => [n, []]));
for (const name of names) await infer(name, speedTensor);
for (let i = 0; i < runs; i++) for (const name of i % 2 ? [...names].reverse() : names) times[name].push((await infer(name, speedTensor)).ms);
const speed = { threads, runs, ms: Object.fromEntries(names.map((n) => [n, Math.round(median(times[n]))])) };
speed.speedup = Object.fromEntries(variants.map((n) => [n, Number((speed.ms.fp32 / speed.ms[n]).toFixed(2))]));
process.stderr.write(`speed: ${JSON.stringify(speed)}\n`);

const quality = [];
for (const manifest of sets) {
  const pairs = (await pairsFromManifest(resolve(manifest))).filter((_, i) => i % every === 0);
  const sums = Object.fromEntries(names.map((n) => [n, { iou: 0, agreement: 0, worst: { delta: 0 } }]));
  for (const [index, pair] of pairs.entries()) {
    const tensor = toModelTensor(await decodeModelInput(readFileSync(pair.image), model.inputSize, { maxPixels: 100e6 }), model);
    const truth = await readGroundTruth(pair.mask);
    const alphas = {};
    for (const name of names) alphas[name] = alphaAt((await infer(name, tensor)).output, truth.width, truth.height);
    const fp32Mask = { fg: Uint8Array.from(alphas.fp32, (a) => (a >= 128 ? 1 : 0)), valid: new Uint8Array(alphas.fp32.length).fill(1) };
    const reference = iou(alphas.fp32, truth);
    for (const name of names) {
      const score = iou(alphas[name], truth);
      const sum = sums[name];
      sum.iou += score;
      sum.agreement += iou(alphas[name], fp32Mask);
      if (Math.abs(score - reference) > Math.abs(sum.worst.delta)) sum.worst = { image: basename(pair.image), delta: Number((score - reference).toFixed(4)) };
    }
    process.stderr.write(`${basename(manifest, '.tsv')} ${index + 1}/${pairs.length}\r`);
  }
  const n = pairs.length;
  const row = { set: manifest, images: n, every, fp32Iou: Number((sums.fp32.iou / n).toFixed(4)), int8: {} };
  for (const name of variants) {
    const sum = sums[name];
    const delta = sum.iou / n - sums.fp32.iou / n;
    row.int8[name] = { iou: Number((sum.iou / n).toFixed(4)), delta: Number(delta.toFixed(4)), withinGate: Math.abs(delta) <= 0.005, vsFp32Iou: Number((sum.agreement / n).toFixed(4)), worst: sum.worst };
  }
  quality.push(row);
  process.stderr.write(`\n${JSON.stringify(row)}\n`);
}
const gates = Object.fromEntries(variants.map((n) => [n, { faster: speed.ms[n] < speed.ms.fp32, iou: quality.every((q) => q.int8[n].withinGate) }]));
const report = { files, speed, quality, gates };
console.log(JSON.stringify(report, null, 1));
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 1)}\n`);
