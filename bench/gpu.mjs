// The CPU bench's figures, on a GPU (issue #20, goal 5; docs/gpu.md). Started by bench/gpu.sh, which checks
// the prerequisites first; run alone it assumes them.
//
//   node bench/gpu.mjs [--out FILE] [--dist DIR] [--cold-runs N] [--batch N] [--device cuda|cpu]
//   node bench/gpu.mjs --check [--dist DIR]        the Node side of bench/gpu.sh --check (JSON on stdout)
//   node bench/gpu.mjs --cold-child IMAGE          one cold start in this process (used by the bench itself)
//
// Figures: cold start (process start -> model ready -> first 12 MP cut-out, in fresh processes), warm 12 MP
// JPEG -> PNG end to end with its stages, inference alone (createRuntime + infer on the 1024 tensor, as
// bench/inference.mjs), a batch of concurrent cut-outs (images/s against one at a time), and nvidia-smi's
// readings (temperature, memory, power, utilisation) before, during (the highest) and after.
// --device cpu runs the same code on the CPU: only to check the script on a machine without a GPU.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: node bench/gpu.mjs [--out FILE] [--dist DIR] [--cold-runs N] [--batch N] [--device cuda|cpu]
       node bench/gpu.mjs --check [--dist DIR]
example: PETCUT_DEVICE=cuda node bench/gpu.mjs --out /tmp/gpu-bench.json --batch 8`;

function parseArgs(argv) {
  const args = { out: undefined, dist: join(root, 'dist'), coldRuns: 3, batch: 8, device: 'cuda', check: false, coldChild: undefined };
  const value = (i, name) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) fail(`${name} needs a value`);
    return v;
  };
  const count = (v, name, max) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) fail(`${name} must be a whole number from 1 to ${max}, got "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else if (a === '--check') args.check = true;
    else if (a === '--out') args.out = value(i++, a);
    else if (a === '--dist') args.dist = resolve(value(i++, a));
    else if (a === '--cold-runs') args.coldRuns = count(value(i++, a), a, 99);
    else if (a === '--batch') args.batch = count(value(i++, a), a, 99);
    else if (a === '--cold-child') args.coldChild = value(i++, a);
    else if (a === '--device') {
      args.device = value(i++, a);
      if (!['cuda', 'cpu'].includes(args.device)) fail(`--device must be cuda or cpu, got "${args.device}"`);
    } else fail(`unknown argument "${a}"`);
  }
  return args;
}

function fail(message) {
  console.error(`bench/gpu.mjs: ${message}\n${USAGE}`);
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const lib = (path) => import(pathToFileURL(join(args.dist, path)).href);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v, digits = 0) => (v === undefined || v === null ? null : Number(v.toFixed(digits)));
const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

if (args.coldChild) {
  // One cold start: performance.now() counts from this process's start.
  const image = readFileSync(args.coldChild);
  const { createEngine } = await lib('index.js');
  const importedMs = performance.now();
  const engine = await createEngine();
  const readyMs = performance.now();
  const result = await engine.cutout(image, { format: 'png' });
  const firstMs = performance.now();
  const second = await engine.cutout(image, { format: 'png' });
  await engine.close();
  console.log(JSON.stringify({ importMs: importedMs, readyMs, firstCutoutMs: firstMs, secondCutoutMs: second.times.total, device: engine.runtime.device, firstTimes: result.times, peakRssMb: peakRssMb() }));
  process.exit(0);
}

if (args.check) {
  console.log(JSON.stringify(await nodeChecks()));
  process.exit(0);
}

/** What the Node side can tell: dist built and current, the CUDA provider, the device node, the model file. */
async function nodeChecks() {
  const missing = [];
  if (!existsSync(join(args.dist, 'index.js'))) {
    return { missing: [`dist/ (${args.dist}/index.js): run \`npm run build\` where npm is, and bring dist/ along`] };
  }
  const gpu = await lib('observability/gpu.js');
  if (!gpu.NVIDIA_SMI_FIELDS) missing.push(`a current dist/ (${args.dist} is older than src/: no temperature query): run \`npm run build\``);
  const { cudaAvailability } = await lib('inference/runtime.js');
  const cuda = cudaAvailability();
  if (!cuda.available) missing.push(`CUDA for onnxruntime-node: ${cuda.reason}`);
  const { loadEngineConfig, describeModel } = await lib('index.js');
  const config = loadEngineConfig();
  const model = describeModel(config);
  const cached = existsSync(config.modelCacheDir) && readdirSync(config.modelCacheDir).some((f) => f.startsWith(`${model.name}-`) && f.endsWith('.onnx'));
  const source = model.source.kind === 'file' ? existsSync(model.source.path) : existsSync(join(root, 'node_modules', '@imgly', 'background-removal-data'));
  if (!cached && !source) missing.push(`the model ${model.name}: neither a prepared file in ${config.modelCacheDir} (petcut model prepare, PETCUT_MODEL_CACHE_DIR) nor node_modules/@imgly/background-removal-data to build it from`);
  return { missing, cuda, model: model.name, modelCacheDir: config.modelCacheDir, modelPrepared: cached };
}

// ---- the bench ---------------------------------------------------------------------------
const { createEngine, loadEngineConfig, describeModel } = await lib('index.js');
const { resolveModelFile } = await lib('inference/modelCache.js');
const { createRuntime } = await lib('inference/runtime.js');
const { toModelTensor } = await lib('inference/tensor.js');
const { NVIDIA_SMI_FIELDS, parseNvidiaSmi } = await lib('observability/gpu.js');
const sharp = (await import('sharp')).default;

process.env.PETCUT_DEVICE = args.device;
const log = (...parts) => console.error('[gpu bench]', ...parts);

/** nvidia-smi's reading now (petcut's own query and parser), or the error. */
function smi() {
  try {
    const csv = execFileSync('nvidia-smi', [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000 });
    return { at: new Date().toISOString(), gpus: parseNvidiaSmi(csv) };
  } catch (error) {
    return { at: new Date().toISOString(), error: String(error.message).split('\n')[0] };
  }
}

/**
 * The highest temperature, memory, power and utilisation nvidia-smi shows while `work` runs, read every 250 ms
 * by an asynchronous child (a synchronous one would stall the main thread that feeds the pipelines).
 */
async function peakDuring(work) {
  const peak = { temperatureC: null, memoryUsedMb: null, powerW: null, utilization: null, samples: 0 };
  const max = (a, b) => (typeof b !== 'number' ? a : a === null ? b : Math.max(a, b));
  let running = true;
  const sampler = (async () => {
    while (running) {
      const csv = await execFileAsync('nvidia-smi', [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000 })
        .then((r) => r.stdout, () => undefined);
      if (csv === undefined) return; // no tool, no peak
      for (const g of parseNvidiaSmi(csv)) {
        peak.temperatureC = max(peak.temperatureC, g.temperatureC);
        peak.memoryUsedMb = max(peak.memoryUsedMb, g.memoryUsedBytes === null ? null : Math.round(g.memoryUsedBytes / 1048576));
        peak.powerW = max(peak.powerW, g.powerW);
        peak.utilization = max(peak.utilization, g.utilization);
      }
      peak.samples++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  try {
    return { value: await work(), peak };
  } finally {
    running = false;
    await sampler;
  }
}

/** The CPU bench's 12 MP photo where ../shared is (the same pixels), else a generated one of the same size. */
async function phonePhoto() {
  // Under the system's temporary folder: the gpu image's /app is not writable for its user.
  const work = join(tmpdir(), 'petcut-gpu-bench');
  mkdirSync(work, { recursive: true });
  const path = join(work, 'gpu-phone-12mp.jpg');
  const pets = join(root, '..', 'shared', 'fixtures', 'pets');
  const fixture = existsSync(pets) ? readdirSync(pets).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort((a, b) => Number(b.includes('dog_golden')) - Number(a.includes('dog_golden')))[0] : undefined;
  if (!existsSync(path)) {
    // Without the fixtures: a pet-sized dark ellipse on a light gradient, so the mask has an edge to refine.
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4032" height="3024"><defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#dfe8d0"/><stop offset="1" stop-color="#a8b8c8"/></linearGradient></defs><rect width="4032" height="3024" fill="url(#g)"/><ellipse cx="2016" cy="1700" rx="1100" ry="900" fill="#6b4a2b"/><circle cx="2016" cy="900" r="520" fill="#7a5635"/></svg>`;
    const base = fixture ? sharp(join(pets, fixture)) : sharp(Buffer.from(svg));
    await base.resize(4032, 3024, { fit: 'cover' }).jpeg({ quality: 92 }).toFile(path);
  }
  return { path, source: fixture ? `../shared/fixtures/pets/${fixture}` : 'generated (no ../shared here)' };
}

const report = {
  date: new Date().toISOString(),
  note: args.device === 'cpu' ? 'device cpu: a check of this script, not GPU figures' : undefined,
  machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, node: process.version, onnxruntimeNode: JSON.parse(readFileSync(join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version },
  nvidiaSmi: { before: smi() },
};
try {
  report.machine.gpus = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n');
  report.machine.driver = execFileSync('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0];
} catch {
  report.machine.gpus = [];
}
const photo = await phonePhoto();
report.photo = photo.source;
const phoneBytes = readFileSync(photo.path);

// Cold: fresh processes, as a new instance starts (each pays the CUDA context and cuDNN's algorithm search).
const cold = [];
for (let i = 0; i < args.coldRuns; i++) {
  log(`cold start ${i + 1} of ${args.coldRuns}`);
  try {
    cold.push(JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--dist', args.dist, '--cold-child', photo.path], { encoding: 'utf8', env: process.env, timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] })));
  } catch (error) {
    // The child's own message, not the whole captured output twice.
    const said = String(error.stderr ?? '').split('\n').filter((line) => /Error|error:/.test(line)).slice(0, 3).join('\n');
    console.error(`[gpu bench] cold start ${i + 1} failed (exit ${error.status ?? error.signal}):\n${said || String(error.stderr ?? error.message).slice(-2000)}`);
    process.exit(1);
  }
}
report.cold = {
  runs: cold.map((r) => ({ readyMs: round(r.readyMs), firstCutoutMs: round(r.firstCutoutMs), firstInferenceMs: round(r.firstTimes.inference), secondCutoutMs: round(r.secondCutoutMs), device: r.device })),
  processToModelReadyMs: round(median(cold.map((r) => r.readyMs))),
  processToFirst12mpCutoutMs: round(median(cold.map((r) => r.firstCutoutMs))),
  firstInferenceMs: round(median(cold.map((r) => r.firstTimes.inference))),
  peakRssMb: round(median(cold.map((r) => r.peakRssMb))),
};
log('cold:', JSON.stringify(report.cold));

const engine = await createEngine();
report.device = engine.runtime;
if (engine.runtime.device !== args.device) throw new Error(`the engine runs on ${engine.runtime.device}, not ${args.device}: ${engine.runtime.deviceReason}`);
await engine.cutout(phoneBytes, { format: 'png' }); // warm

// Warm end to end, median of 5, by stage (the keys of the CPU bench's stages12mp).
const runs = [];
for (let i = 0; i < 5; i++) runs.push((await engine.cutout(phoneBytes, { format: 'png' })).times);
const stage = (k) => round(median(runs.map((t) => t[k])));
report.stages12mp = { decode: stage('decode'), inference: stage('inference'), refine: stage('refine'), encode: stage('encode'), total: stage('total') };

// Inference alone: a runtime of its own, the same settings, the 1024 tensor (as bench/inference.mjs).
const config = loadEngineConfig();
const model = describeModel(config);
const runtime = await createRuntime({ modelPath: await resolveModelFile(model, config.modelCacheDir), model, device: config.device, threads: config.threads });
const rgb = await sharp(phoneBytes).resize(model.inputSize, model.inputSize, { fit: 'fill' }).removeAlpha().raw().toBuffer();
const inferMs = [];
for (let i = 0; i < 6; i++) inferMs.push((await runtime.infer(toModelTensor(rgb, model))).ms);
await runtime.close();
report.inferenceAlone = { device: runtime.info.device, firstMs: round(inferMs[0]), warmMs: round(median(inferMs.slice(1)), 1) };
report.stages12mp.inferenceAlone = report.inferenceAlone.warmMs;
report.stages12mp.totalOverInference = round(report.stages12mp.total / report.inferenceAlone.warmMs, 3);
log('warm 12 MP JPEG -> PNG (ms):', JSON.stringify(report.stages12mp));

// A batch: the same number of cut-outs one at a time, then all at once (the pipelines and the model's queue).
const timed = async (fn) => { const t = performance.now(); await fn(); return performance.now() - t; };
const sequentialMs = await timed(async () => { for (let i = 0; i < args.batch; i++) await engine.cutout(phoneBytes, { format: 'png' }); });
const concurrent = await peakDuring(() => timed(() => Promise.all(Array.from({ length: args.batch }, () => engine.cutout(phoneBytes, { format: 'png' })))));
report.batch = {
  images: args.batch, pipelines: engine.concurrency,
  oneAtATimeImagesPerS: round(args.batch / (sequentialMs / 1000), 3),
  concurrentImagesPerS: round(args.batch / (concurrent.value / 1000), 3),
  concurrentWallMs: round(concurrent.value),
  nvidiaSmiPeak: concurrent.peak,
};
log('batch:', JSON.stringify(report.batch));
await engine.close();
report.nvidiaSmi.after = smi();
report.peakRssMb = round(peakRssMb());

const text = `${JSON.stringify(report, null, 2)}\n`;
if (args.out) {
  const out = isAbsolute(args.out) ? args.out : resolve(args.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  log(`written to ${out}`);
}
process.stdout.write(text);
