// Sweeps the segmentation knobs on ../shared/eval-dev with the model's outputs
// cached on disk (keyed by the input tensor's hash), so each variant costs only
// the post-processing. Usage: node bench/tune.mjs '{"zoomMerge":"mean"}' ...
import { createHash } from 'node:crypto';
import { mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEngineConfig } from '../dist/engine/config.js';
import { describeModel } from '../dist/engine/engine.js';
import { resolveModelFile } from '../dist/inference/modelCache.js';
import { createRuntime } from '../dist/inference/runtime.js';
import { segmentImage } from '../dist/engine/segment.js';
import { pairsFromManifest } from '../dist/eval/dataset.js';
import { readGroundTruth } from '../dist/eval/maskReader.js';
import { iou, boundaryF } from '../dist/eval/metrics.js';
import sharp from 'sharp';

const cacheDir = '.cache/tune';
mkdirSync(cacheDir, { recursive: true });
const config = loadEngineConfig();
const model = describeModel(config);
let real;
const runtime = {
  info: {},
  pending: () => 0,
  close: async () => real?.close(),
  async infer(input) {
    const key = createHash('sha1').update(Buffer.from(input.buffer, input.byteOffset, input.byteLength)).update(model.sha256 ?? model.name).digest('hex');
    const file = join(cacheDir, `${key}.f32`);
    if (existsSync(file)) { const b = readFileSync(file); return { output: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), ms: 0 }; }
    real ??= await createRuntime({ modelPath: await resolveModelFile(model, config.modelCacheDir), model, device: 'cpu', threads: config.threads });
    const result = await real.infer(input);
    writeFileSync(file, Buffer.from(result.output.buffer));
    return result;
  },
};
const pairs = await pairsFromManifest(process.env.MANIFEST ?? '../shared/eval-dev/manifest.tsv');
const variants = process.argv.slice(2).map((v) => JSON.parse(v));
for (const variant of variants.length ? variants : [{}]) {
  const { subject, refine, zoomBelow, ...tuning } = variant;
  const rows = [];
  for (const pair of pairs) {
    const gt = await readGroundTruth(pair.mask, {});
    const seg = await segmentImage(readFileSync(pair.image), runtime, model, config.maxPixels, { subject, refine, zoomBelow, tuning });
    if (process.env.SAVE) { mkdirSync(process.env.SAVE, { recursive: true }); await sharp(seg.alpha, { raw: { width: seg.width, height: seg.height, channels: 1 } }).png().toFile(join(process.env.SAVE, pair.image.split('/').pop().replace('.jpg', '.png'))); }
    rows.push({ name: pair.image.split('/').pop(), subject: pair.subject, iou: iou(seg.alpha, gt), f: boundaryF(seg.alpha, gt, gt.width, gt.height).f });
  }
  const m = (rs, k) => rs.reduce((a, r) => a + r[k], 0) / rs.length;
  const animals = rows.filter((r) => r.subject === 'dog' || r.subject === 'other animal');
  console.log(JSON.stringify(variant), `all IoU ${m(rows, 'iou').toFixed(4)} F ${m(rows, 'f').toFixed(4)} | animals IoU ${m(animals, 'iou').toFixed(4)} F ${m(animals, 'f').toFixed(4)}`);
  if (process.env.VERBOSE) for (const r of rows) console.log(`  ${r.name.padEnd(28)} ${r.iou.toFixed(3)} ${r.f.toFixed(3)}`);
}
await runtime.close();
