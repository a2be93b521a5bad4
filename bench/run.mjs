#!/usr/bin/env node
// petcut benchmark: `npm run bench [-- section...]` (never part of `npm test`).
// Sections: stages (also the event-loop stall during two cut-outs), fixtures, throughput, cold (graph cache on/off), readyz
// (service start -> /readyz -> first cut-out, with and without the warm-up inference), models, peer, quality, service
// (HTTP overhead and cache hits), load (20 clients against the service process),
// effects (each style at 1024x1024 and 4000x3000), badinput (the bad-upload
// corpus through the API: codes, rejection times vs sharp's own header read),
// ratelimit (Redis + two service processes: allowed vs budget), observability
// (metrics and logging on vs off: µs per request, share of a cut-out), sharedjobs (jobs through Redis vs the
// memory store: ms and Redis round trips per job, a poll on another instance), pets (the class models' cost on a warm
// 12 MP cut-out, start-up and memory with and without them) (default:
// all of these), soak (200 images in a row; on demand), hardening (stalled-upload
// attack, refusal latency, the new checks, goodput under 2x/10x overload; on demand), fringe (colour fringe of the pet
// fixtures' edges, bench/fringe.mjs; on demand), capacity (step search of the
// sustained rate at warm P95 < 5 s, preview and 12 MP, with petcut loadtest; on demand), widget (the storefront
// widget in Chromium: file -> cut-out, desktop vs phone, page-load cost with/without it; bench/widget.mjs; on demand). Results: bench/results/latest.json.
// Reads ../shared when present; makes the 12 MP photo itself by upscaling a fixture.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createEngine, loadEngineConfig } from '../dist/index.js';
import { describeModel } from '../dist/engine/engine.js';
import { resolveModelFile } from '../dist/inference/modelCache.js';
import { MODELS } from '../dist/inference/models.js';
import { createRuntime } from '../dist/inference/runtime.js';
import { cpuFeatures } from '../dist/inference/graphCache.js';
import { toModelTensor } from '../dist/inference/tensor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shared = join(root, '..', 'shared');
const pets = join(shared, 'fixtures', 'pets');
const work = join(root, '.cache', 'bench');
mkdirSync(work, { recursive: true });
mkdirSync(join(root, 'bench', 'results'), { recursive: true });

const all = ['stages', 'fixtures', 'throughput', 'cold', 'readyz', 'models', 'peer', 'quality', 'service', 'load', 'effects', 'badinput', 'ratelimit', 'observability', 'sharedjobs', 'pets'];
const asked = process.argv.slice(2);
const sections = new Set(asked.length ? asked : all);
// The CPU's model and instruction set: figures from an AVX2-only CPU and an AVX-512 VNNI one differ several times over.
const os = await import('node:os');
const report = { date: new Date().toISOString(), machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', isa: cpuFeatures(), node: process.version } };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v) => Math.round(v);
const log = (...args) => console.log(...args);

const fixtures = existsSync(pets) ? readdirSync(pets).filter((f) => /\.(jpe?g|png)$/i.test(f)).map((f) => join(pets, f)) : [];
if (!fixtures.length) log(`note: ${pets} not found; fixture sections use generated images only`);
const phone = join(work, 'phone-12mp.jpg');
if (!existsSync(phone)) {
  const source = fixtures.find((f) => f.includes('dog_golden')) ?? fixtures[0];
  const base = source ? sharp(source) : sharp({ create: { width: 800, height: 600, channels: 3, background: '#8a6' } });
  await base.resize(4032, 3024, { fit: 'cover' }).jpeg({ quality: 92 }).toFile(phone);
}
const phoneBytes = readFileSync(phone);

async function timed(fn) {
  const t = performance.now();
  const value = await fn();
  return [performance.now() - t, value];
}

if (sections.has('stages') || sections.has('fixtures') || sections.has('throughput')) {
  const engine = await createEngine();
  report.device = engine.runtime;
  await engine.cutout(phoneBytes); // warm
  if (sections.has('stages')) {
    // Inference alone, through the same runtime settings, on the 1024 tensor.
    const config = loadEngineConfig();
    const model = describeModel(config);
    const runtime = await createRuntime({ modelPath: await resolveModelFile(model, config.modelCacheDir), model, device: config.device, threads: config.threads });
    const rgb = await sharp(phoneBytes).resize(1024, 1024, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    const inferMs = [];
    const runs = [];
    await runtime.infer(toModelTensor(rgb, model)); // its first run
    // Interleaved, so the engine and ORT alone see the same machine.
    for (let i = 0; i < 5; i++) {
      inferMs.push((await runtime.infer(toModelTensor(rgb, model))).ms);
      runs.push((await engine.cutout(phoneBytes, { format: 'png' })).times);
    }
    await runtime.close();
    const stage = (k) => round(median(runs.map((t) => t[k])));
    report.stages12mp = {
      decode: stage('decode'), inference: stage('inference'), classes: stage('classes'), refine: stage('refine'), encode: stage('encode'), total: stage('total'),
      // ONNX Runtime's own time for the cut-out model inside the engine (while the full-size decode runs beside it) vs
      // the same session settings alone on an idle machine: the engine's cost on the model itself.
      modelInEngine: stage('model'), inferenceAlone: round(median(inferMs)),
    };
    report.stages12mp.totalOverInference = +(report.stages12mp.total / report.stages12mp.inferenceAlone).toFixed(3);
    report.stages12mp.modelInEngineOverAlone = +(report.stages12mp.modelInEngine / report.stages12mp.inferenceAlone).toFixed(3);
    report.stages12mp.inferenceStageOverAlone = +((report.stages12mp.inference - report.stages12mp.classes) / report.stages12mp.inferenceAlone).toFixed(3);
    log('12 MP JPEG -> PNG, warm, median of 5 (ms):', JSON.stringify(report.stages12mp));
    // The main thread while two 12 MP cut-outs run at once: the longest gap between ticks of a 5 ms timer
    // (test/engine.test.ts checks that the loop answers between stages; how long it stalls is measured here).
    let worst = 0;
    let ticks = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
      ticks++;
    }, 5);
    await Promise.all([engine.cutout(phoneBytes), engine.cutout(phoneBytes)]);
    clearInterval(ticker);
    report.eventLoopDuringCutouts = { cutouts: 2, timerMs: 5, ticks, worstStallMs: round(worst), under250Ms: worst < 250 };
    log('event loop during two 12 MP cut-outs:', JSON.stringify(report.eventLoopDuringCutouts));
  }
  if (sections.has('fixtures')) {
    report.fixtures = {};
    for (const file of fixtures) {
      const input = readFileSync(file);
      const runs = [];
      for (let i = 0; i < 3; i++) runs.push((await engine.cutout(input, { format: 'png' })).times.total);
      report.fixtures[file.split('/').pop()] = round(median(runs));
    }
    log('fixtures, warm e2e PNG, median of 3 (ms):', JSON.stringify(report.fixtures));
  }
  if (sections.has('throughput')) {
    const inputs = fixtures.length ? fixtures.map((f) => readFileSync(f)) : [phoneBytes];
    const total = 8;
    report.throughput = {};
    for (const concurrency of [1, 2, 3]) {
      let next = 0;
      const [ms] = await timed(() => Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < total) await engine.cutout(inputs[next++ % inputs.length], { format: 'png' });
      })));
      report.throughput[`c${concurrency}`] = +(total / (ms / 1000)).toFixed(3);
    }
    if (report.stages12mp) report.throughput.ceiling = +(1000 / report.stages12mp.inferenceAlone).toFixed(3);
    log('throughput, images/s by concurrency:', JSON.stringify(report.throughput));
  }
  await engine.close();
}

if (sections.has('cold')) {
  // Fresh processes, interleaved: the optimized-graph cache on (the default; built by the warm run above or the first
  // run here) and off (ORT optimizes the graph at every start, as before #20). Stage times are the first cut-out's.
  const cold = (env) => JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'coldstart.mjs'), phone], { encoding: 'utf8', env: { ...process.env, ...env } }));
  cold({});
  const runs = { cached: [], uncached: [] };
  for (let i = 0; i < 3; i++) {
    runs.cached.push(cold({ PETCUT_GRAPH_CACHE: 'true' }));
    runs.uncached.push(cold({ PETCUT_GRAPH_CACHE: 'false' }));
  }
  const summary = (list) => ({
    processToModelReadyMs: round(median(list.map((r) => r.readyMs))), processToFirst12mpCutoutMs: round(median(list.map((r) => r.firstCutoutMs))),
    peakRssOne12mpMb: round(median(list.map((r) => r.peakRssMb))), graph: list[0].graph,
    firstCutoutStages: Object.fromEntries(Object.keys(list[0].firstTimes).map((k) => [k, round(median(list.map((r) => r.firstTimes[k])))])),
  });
  report.cold = summary(runs.cached);
  report.coldWithoutGraphCache = summary(runs.uncached);
  report.cold.graphCacheSpeedup = +(report.coldWithoutGraphCache.processToFirst12mpCutoutMs / report.cold.processToFirst12mpCutoutMs).toFixed(3);
  log('cold start (process start, median of 3), graph cache on:', JSON.stringify(report.cold));
  log('cold start, graph cache off:', JSON.stringify(report.coldWithoutGraphCache));
}

if (sections.has('readyz')) {
  // The service: start -> /readyz and the first 12 MP cut-out after it, ready when loaded vs after a warm-up inference.
  report.readyz = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'readyz.mjs'), phone, '3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  log('service start -> /readyz -> first 12 MP cut-out (median of 3, ms):', JSON.stringify(report.readyz));
}

if (sections.has('models')) {
  // One process per variant: onnxruntime-node's addon cannot be loaded again in a
  // process after the worker that loaded it has exited ("did not self-register").
  report.models = {};
  for (const name of Object.values(MODELS).filter((m) => m.benchmark).map((m) => m.name)) {
    for (const [label, arena, pattern] of [['arena', '1', '0'], ['arena+pattern', '1', '1'], ['no arena', '0', '0']]) {
      const out = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'inference.mjs'), name, arena, pattern, phone], { encoding: 'utf8' }));
      report.models[`${name} ${label}`] = out;
    }
  }
  log('inference alone by model and memory settings (ms, peak RSS MB):', JSON.stringify(report.models));
}

if (sections.has('peer')) {
  const peerDir = join(root, 'bench', 'imgly');
  if (!existsSync(join(peerDir, 'node_modules'))) execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: peerDir, stdio: 'inherit' });
  const images = [phone, ...fixtures];
  const out = join(work, 'peer.json');
  execFileSync(process.execPath, [join(peerDir, 'peer.mjs'), '--model', 'medium', '--runs', '3', '--out', out, ...images], { stdio: ['ignore', 'ignore', 'inherit'] });
  const peer = JSON.parse(readFileSync(out, 'utf8'));
  const rawOut = join(work, 'peer-rgba8.json');
  execFileSync(process.execPath, [join(peerDir, 'peer.mjs'), '--model', 'medium', '--runs', '3', '--format', 'rgba8', '--out', rawOut, phone], { stdio: ['ignore', 'ignore', 'inherit'] });
  const peerRaw = JSON.parse(readFileSync(rawOut, 'utf8'));
  const byName = Object.fromEntries(peer.images.map((r) => [r.file.split('/').pop(), r.median_ms]));
  report.peer = { coldMs: round(peer.cold_ms), coldImage: peer.cold_image.split('/').pop(), peakRssMb: peer.peak_rss_mb, phone12mpPngMs: round(byName['phone-12mp.jpg']), phone12mpRgba8Ms: round(peerRaw.images[0].median_ms), fixtures: byName };
  if (report.stages12mp) {
    report.peer.ratio12mpPng = +(report.peer.phone12mpPngMs / report.stages12mp.total).toFixed(2);
    report.peer.ratio12mpVsPeerRgba8 = +(report.peer.phone12mpRgba8Ms / report.stages12mp.total).toFixed(2);
  }
  // The peer's cold figure starts at its first call (after its imports); ours at process start.
  if (report.cold) report.peer.coldRatio = +(report.peer.coldMs / report.cold.processToFirst12mpCutoutMs).toFixed(2);
  if (report.fixtures) {
    const ratios = Object.entries(report.fixtures).map(([name, ms]) => byName[name] / ms).filter(Number.isFinite);
    report.peer.fixturesMedianRatio = +median(ratios).toFixed(2);
  }
  log('peer @imgly/background-removal-node (same model):', JSON.stringify(report.peer));
}

if (sections.has('quality') && existsSync(join(shared, 'eval-dev'))) {
  report.quality = {};
  for (const [label, flags] of [['raw (bilinear, no selection)', ['--raw']], ['refinement only', ['--no-subject']], ['selection, no zoom', ['--no-zoom']], ['full pipeline', []]]) {
    const csv = join(work, `eval-${label.replace(/\W+/g, '-')}.csv`);
    const out = execFileSync(process.execPath, [join(root, 'dist', 'cli', 'index.js'), 'eval', '--manifest', join(shared, 'eval-dev', 'manifest.tsv'), '--csv', csv, ...flags], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const rows = readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
    const animals = rows.filter((r) => r[1] === 'dog' || r[1] === 'other animal');
    const mean = (rs, i) => +(rs.reduce((a, r) => a + Number(r[i]), 0) / rs.length).toFixed(4);
    report.quality[label] = { all: { iou: mean(rows, 2), boundaryF: mean(rows, 3), mae: mean(rows, 4) }, animals: { iou: mean(animals, 2), boundaryF: mean(animals, 3) } };
    log(`quality ${label}:`, JSON.stringify(report.quality[label]), out.trim() ? '' : '');
  }
}

if (sections.has('service')) {
  report.service = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'service.mjs'), phone], { encoding: 'utf8', env: { ...process.env, MALLOC_ARENA_MAX: '2' } }));
  log('service overhead and cache hits (12 MP JPEG -> full PNG, ms):', JSON.stringify(report.service));
}

if (sections.has('load')) {
  report.load = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'load.mjs'), phone], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  log('load (20 clients, 12 MP uploads):', JSON.stringify(report.load));
}

if (sections.has('fringe')) {
  // Colour fringe on the pet fixtures (on demand): the old background left in edge colours, cut-out vs the photo's own colours.
  report.fringe = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'fringe.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  for (const [name, f] of Object.entries(report.fringe.photos)) {
    log(`fringe ${name}: edge leak ${f.out.edge.leak} (photo colours ${f.raw.edge.leak}), visible ${f.out.edge.visible} levels; opaque rim leak ${f.out.rim.leak} (${f.raw.rim.leak})`);
  }
}

if (sections.has('effects')) {
  report.effects = JSON.parse(execFileSync(process.execPath, ['--expose-gc', join(root, 'bench', 'effects.mjs'), phone], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  log('effects, one thread (ms; RSS growth MB at 4000x3000):', JSON.stringify(report.effects));
}

if (sections.has('badinput')) {
  report.badinput = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'badinput.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 }));
  log('bad-input corpus through the API:', JSON.stringify(report.badinput));
}

if (sections.has('ratelimit')) {
  report.ratelimit = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'ratelimit.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 }));
  log('rate limits (Redis, two processes):', JSON.stringify(report.ratelimit));
}

if (sections.has('sharedjobs')) {
  const sj = report.sharedjobs = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'shared-jobs.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  for (const kind of ['hit', 'miss']) {
    const k = sj[kind];
    log(`shared jobs (${kind}): ${k.sharedMsPerJob} ms per job through Redis vs ${k.memoryMsPerJob} ms in memory (ratio ${k.ratio}), ${k.redisRoundTripsPerJob} Redis round trips per job; a poll on another instance ${k.pollOnOtherInstanceMs} ms vs ${k.localPollMs} ms local`);
  }
}

if (sections.has('pets')) {
  // Pet finding's cost (#18): the class models on a warm 12 MP cut-out (target < 5 %), and what they add to start-up
  // and peak memory (one process each: bench/pets.mjs).
  const run = (mode) => JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'pets.mjs'), mode, phone], { encoding: 'utf8' }));
  const off = run('off');
  const on = run('on');
  report.pets = {
    on, off,
    classShareOfCutout: +(on.classesMs / on.salientMs).toFixed(3),
    petsOverSalient: +(on.petsMs / on.salientMs).toFixed(3),
    readyAddedMs: on.readyMs - off.readyMs,
    rssAddedMb: on.rssMb - off.rssMb,
  };
  log('pet finding on a warm 12 MP cut-out (median of 5, ms; start-up; peak RSS MB):', JSON.stringify(report.pets));
}

if (sections.has('observability')) {
  const obs = report.observability = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'observability.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MALLOC_ARENA_MAX: '2' } }));
  log(`observability: ${obs.overheadUs} µs per request with metrics + logging on (${obs.overheadUsSyncLog} µs with synchronous log writes) = ${(obs.overheadShareOfCutout * 100).toFixed(4)} % of a ${obs.cutoutMedianMs} ms cut-out (upper bound ${(obs.overheadShareUpperBound * 100).toFixed(4)} %; target < 1 %);`
    + ` measured end to end ON/OFF ${obs.cutout.onOverOffRatioMedian} (per pair p10..p90 ${obs.cutout.onOverOffRatioP10}..${obs.cutout.onOverOffRatioP90}, noise on 2 cores); /metrics scrape ${obs.scrape.quietMedianMs} ms`);
  log('observability:', JSON.stringify(obs));
}

if (sections.has('hardening')) {
  report.hardening = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'hardening.mjs'), phone], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  log('hardening (stalled uploads, refusals, checks, overload):', JSON.stringify(report.hardening));
}

if (sections.has('capacity')) {
  report.capacity = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'capacity.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  log('capacity (sustained rate at warm P95 < 5 s; first 503s):', JSON.stringify(report.capacity));
}

if (sections.has('widget')) {
  // The storefront widget in Chromium (on demand): file chosen -> cut-out shown, desktop vs phone, and page-load cost.
  report.widget = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'widget.mjs'), phone], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const w = report.widget;
  log(`widget: file -> cut-out median desktop ${w.cutout.desktop.medianMs} ms, phone 4x CPU ${w.cutout.mobileCpu4x.medianMs} ms (ratio ${w.cutout.mobileOverDesktop}; the device's own share ${w.cutout.deviceMobileOverDesktop}; projected with the desktop runs' service time ${w.cutout.mobileProjectedOverDesktop}), phone 4x CPU + slow 4G ${w.cutout.mobileCpu4xSlow4g.medianMs} ms;`
    + ` page load with/without: score ${w.pageLoad.withWidget.score}/${w.pageLoad.withoutWidget.score}, +${w.pageLoad.addedBytes} bytes, TBT ${w.pageLoad.withWidget.tbtMs}/${w.pageLoad.withoutWidget.tbtMs} ms`);
}

if (sections.has('soak')) {
  const count = process.env.SOAK_COUNT ?? '200';
  report.soak = JSON.parse(execFileSync(process.execPath, [join(root, 'bench', 'soak.mjs'), count, ...(fixtures.length ? fixtures : [phone])], { encoding: 'utf8' }));
  log('soak:', JSON.stringify(report.soak));
}

// Sections run alone (e.g. `-- soak`) update their part of the last full report.
const latest = join(root, 'bench', 'results', 'latest.json');
const previous = existsSync(latest) ? JSON.parse(readFileSync(latest, 'utf8')) : {};
writeFileSync(latest, `${JSON.stringify({ ...previous, ...report }, null, 2)}\n`);
log('written: bench/results/latest.json');
