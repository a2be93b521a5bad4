#!/usr/bin/env node
// Calibrates ISNet on the dev photos and writes the static u8s8 QDQ int8 model
// (src/inference/quantize.ts does the rewrite) and the ranges JSON.
// Run `npm run build` first: it loads dist/.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { loadEngineConfig } from '../../dist/index.js';
import { describeModel } from '../../dist/engine/engine.js';
import { resolveModelFile } from '../../dist/inference/modelCache.js';
import { toModelTensor } from '../../dist/inference/tensor.js';
import { decodeModelInput } from '../../dist/image/decode.js';
import { pairsFromManifest } from '../../dist/eval/dataset.js';
import { activationModel, calibrationModel, calibrationTensors, quantizeIsnet } from '../../dist/inference/quantize.js';

const HELP = `Usage: node scripts/models/quantize-int8.mjs [options]

Calibrates the fp32 ISNet (the model cache's file) on a set of photos, then
rewrites it as a static u8s8 QDQ model: int8 weights per output channel, u8
activations from the per-tensor min/max seen in calibration.

Options:
  --manifest <tsv>   calibration photos (default: ../shared/eval-dev/manifest.tsv)
  --model <file>     fp32 model (default: the model cache's isnet file)
  --ranges <file>    ranges JSON to write (default: /tmp/isnet-int8.ranges.json)
  --from-ranges <f>  skip calibration: quantise with these ranges (and their
                     keepFloat unless --keep-float is given)
  --out <file>       int8 model to write (default: /tmp/isnet-int8.onnx)
  --method <m>       activation ranges: minmax, or percentile (a histogram
                     within the min/max, cut at --percentile) (default: minmax)
  --percentile <p>   with --method percentile: 99-100 (default: 99.999)
  --keep-float <l>   comma-separated Conv name prefixes left in fp32
                     (default: none; e.g. /stage1d/,/stage2d/)
  --threads <n>      ONNX Runtime threads for calibration (default: 2)
  -h, --help         this text

Example:
  nice -n 15 node scripts/models/quantize-int8.mjs --ranges vendor/models/isnet-int8.ranges.json --out /tmp/isnet-int8.onnx`;

const { values } = parseArgs({
  options: {
    manifest: { type: 'string', default: '../shared/eval-dev/manifest.tsv' },
    model: { type: 'string' },
    ranges: { type: 'string', default: '/tmp/isnet-int8.ranges.json' },
    'from-ranges': { type: 'string' },
    out: { type: 'string', default: '/tmp/isnet-int8.onnx' },
    threads: { type: 'string', default: '2' },
    method: { type: 'string', default: 'minmax' },
    percentile: { type: 'string', default: '99.999' },
    'keep-float': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const threads = Number(values.threads);
if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
  console.error(`--threads: an integer 1-64, got "${values.threads}"`);
  process.exit(2);
}

if (!['minmax', 'percentile'].includes(values.method)) {
  console.error(`--method: minmax or percentile, got "${values.method}"`);
  process.exit(2);
}
const percentile = Number(values.percentile);
if (!(percentile >= 99 && percentile <= 100)) {
  console.error(`--percentile: a number 99-100, got "${values.percentile}"`);
  process.exit(2);
}
const keepFloat = values['keep-float'].split(',').map((s) => s.trim()).filter(Boolean);

const config = loadEngineConfig(process.env, { model: 'isnet' });
const model = describeModel(config);
const modelPath = values.model ?? (await resolveModelFile(model, config.modelCacheDir));
const fp32 = readFileSync(modelPath);
const OUTPUTS = [model.outputName];

async function modelTensors(pairs) {
  const list = [];
  for (const pair of pairs) {
    const rgb = await decodeModelInput(readFileSync(pair.image), model.inputSize, { maxPixels: 100e6 });
    list.push(new ort.Tensor('float32', toModelTensor(rgb, model), [1, 3, model.inputSize, model.inputSize]));
  }
  return list;
}

const BINS = 4096;
// Every 13th value: a histogram of ~1/13 of a tensor's millions of values
// places a 99.999th percentile well (dozens of samples above it) at 1/13 of
// the JavaScript time.
const STRIDE = 13;
// Tensors fetched per run: the big stage-1 activations are 16-64 MB each.
const BATCH = 40;

/** Per-tensor histograms over the min/max ranges, cut at the percentile (the low end stays the min: it is 0 after a Relu). */
async function percentiles(minmax, pairs) {
  const names = Object.keys(minmax.tensors);
  const histograms = new Map(names.map((n) => [n, new Float64Array(BINS)]));
  const session = await ort.InferenceSession.create(Buffer.from(activationModel(fp32, { outputs: OUTPUTS })), { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const inputs = await modelTensors(pairs);
  for (const [index, input] of inputs.entries()) {
    for (let start = 0; start < names.length; start += BATCH) {
      const batch = names.slice(start, start + BATCH);
      const result = await session.run({ [model.inputName]: input }, batch);
      for (const n of batch) {
        const [lo, hi] = minmax.tensors[n];
        const data = result[n].data;
        const histogram = histograms.get(n);
        const step = BINS / Math.max(hi - lo, 1e-12);
        for (let i = 0; i < data.length; i += STRIDE) histogram[Math.min(BINS - 1, Math.floor((data[i] - lo) * step))] += 1;
      }
    }
    process.stderr.write(`histograms ${index + 1}/${inputs.length}\r`);
  }
  await session.release();
  process.stderr.write('\n');
  const tensors = {};
  for (const n of names) {
    const [lo, hi] = minmax.tensors[n];
    const histogram = histograms.get(n);
    const total = histogram.reduce((a, b) => a + b, 0);
    let seen = 0;
    let bin = 0;
    while (bin < BINS - 1 && seen + histogram[bin] < (total * percentile) / 100) seen += histogram[bin++];
    tensors[n] = [lo, Math.min(hi, lo + ((bin + 1) * (hi - lo)) / BINS)];
  }
  return { ...minmax, method: `percentile ${percentile} of a ${BINS}-bin histogram (every ${STRIDE}th value) within the min/max`, tensors };
}

async function calibrate() {
  const pairs = await pairsFromManifest(resolve(values.manifest));
  const minmax = await minMax(pairs);
  return values.method === 'percentile' ? percentiles(minmax, pairs) : minmax;
}

async function minMax(pairs) {
  const names = calibrationTensors(fp32, { outputs: OUTPUTS });
  const session = await ort.InferenceSession.create(Buffer.from(calibrationModel(fp32, { outputs: OUTPUTS })), { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const fetches = names.flatMap((n) => [`${n}::min`, `${n}::max`]);
  const tensors = Object.fromEntries(names.map((n) => [n, [Infinity, -Infinity]]));
  for (const [index, input] of (await modelTensors(pairs)).entries()) {
    const result = await session.run({ [model.inputName]: input }, fetches);
    for (const n of names) {
      const range = tensors[n];
      range[0] = Math.min(range[0], result[`${n}::min`].data[0]);
      range[1] = Math.max(range[1], result[`${n}::max`].data[0]);
    }
    process.stderr.write(`calibrated ${index + 1}/${pairs.length}\r`);
  }
  await session.release();
  process.stderr.write('\n');
  return { format: 'petcut-int8-ranges/1', method: 'per-tensor min/max', calibration: values.manifest, images: pairs.length, outputs: OUTPUTS, tensors };
}

const calibrated = values['from-ranges'] ? JSON.parse(readFileSync(values['from-ranges'], 'utf8')) : await calibrate();
const ranges = { ...calibrated, keepFloat: keepFloat.length || !calibrated.keepFloat ? keepFloat : calibrated.keepFloat };
mkdirSync(dirname(resolve(values.ranges)), { recursive: true });
// One tensor a line: small, and a diff shows which ranges moved.
const lines = Object.entries(ranges.tensors).map(([name, range]) => `  ${JSON.stringify(name)}: ${JSON.stringify(range)}`);
const head = JSON.stringify({ ...ranges, tensors: undefined }, null, 1).replace(/\n}$/, '');
writeFileSync(values.ranges, `${head},\n "tensors": {\n${lines.join(',\n')}\n }\n}\n`);
const int8 = quantizeIsnet(fp32, ranges);
writeFileSync(values.out, int8);
console.log(JSON.stringify({ model: values.out, bytes: int8.length, ranges: values.ranges, keepFloat: ranges.keepFloat, tensors: Object.keys(ranges.tensors).length }));
