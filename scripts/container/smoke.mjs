#!/usr/bin/env node
// npm run image:smoke [-- IMAGE] [--runtime buildah|docker] [--compare] [--this-revision] [--json FILE]
//
// Runs a built petcut image's own entrypoint with `buildah run` (chroot
// isolation, the host's network; or `docker run` where a daemon is, as in
// Cloud Build) and checks it the way Cloud Run will use it:
// /readyz turns 200, a real pet photo comes back cut out (PNG with alpha, a
// plausible subject box, a confident mask), /metrics answers, and SIGTERM ends
// it cleanly (exit 0, within the drain deadline). It reports what it measured:
// start -> /readyz, start -> first 12 MP cut-out, the server's peak RSS; with
// --compare the same for `node dist/main.js` on this machine (npm start);
// --this-revision also checks the image's revision label is this checkout's HEAD.
//
//   npm run image:smoke
//   npm run image:smoke -- localhost/petcut-cpu:dev --compare --json out/image-smoke.json
//   node scripts/container/smoke.mjs --runtime docker us-central1-docker.pkg.dev/p/petcut/petcut-cpu:abc
//
// Exit codes: 0 every check passed, 1 a check failed (named), 2 bad usage.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const flag = (name) => { const i = args.indexOf(name); if (i < 0) return undefined; const v = args[i + 1]; args.splice(i, 2); if (!v) usage(`${name} needs a value`); return v; };
const usage = (message) => { console.error(`image:smoke: ${message} (see --help)`); process.exit(2); };
const jsonOut = flag('--json');
const runtime = flag('--runtime') ?? 'buildah';
if (!['buildah', 'docker'].includes(runtime)) usage(`--runtime must be buildah or docker, got "${runtime}"`);
const compare = args.includes('--compare');
const positional = args.filter((a) => a !== '--compare' && a !== '--this-revision');
if (positional.some((a) => a.startsWith('-'))) usage(`unknown option ${positional.find((a) => a.startsWith('-'))}`);
const image = positional[0] ?? 'localhost/petcut-cpu:dev';
const storage = process.env.BUILDAH_STORAGE_DRIVER ?? 'vfs';
const DRAIN_DEADLINE_MS = 15_000;

const log = (...parts) => console.log('image:smoke:', ...parts);
let failures = 0;
function check(ok, what, detail = '') {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
  return ok;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); }).on('error', reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A pet photo: the first JPEG of ../shared/fixtures/pets, else the image's own demo photo. */
async function petPhoto(run) {
  const fixtures = join(root, '..', 'shared', 'fixtures', 'pets');
  if (existsSync(fixtures)) {
    const name = readdirSync(fixtures).filter((n) => n.endsWith('.jpg')).sort()[0];
    if (name) return { name, bytes: readFileSync(join(fixtures, name)) };
  }
  return { name: 'demo-photo (generated in the image)', bytes: await run() };
}

/** A 12 MP phone-size JPEG of the photo (4000x3000), made with the host's sharp when it is installed. */
async function phonePhoto(bytes) {
  try {
    const { default: sharp } = await import(join(root, 'node_modules', 'sharp', 'lib', 'index.js'));
    return await sharp(bytes).resize(4000, 3000, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
  } catch {
    return undefined;
  }
}

/** PNG facts from the header: width, height, colour type (6 = RGBA). */
function pngFacts(buffer) {
  const signature = buffer.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  if (!signature || buffer.length < 33) return undefined;
  return { width: buffer.readUInt32BE(16), height: buffer.readUInt32BE(20), colourType: buffer[25] };
}

function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return undefined;
  }
}

/** Every process's children, from the parent ids in /proc/<pid>/stat (any thread may have forked them). */
function childrenMap() {
  const map = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      map.set(ppid, [...(map.get(ppid) ?? []), Number(name)]);
    } catch { /* gone */ }
  }
  return map;
}

/** The descendants of `parent`, deepest first. */
function descendants(parent) {
  const map = childrenMap();
  const found = [];
  const queue = [parent];
  while (queue.length) {
    const children = map.get(queue.shift()) ?? [];
    found.push(...children);
    queue.push(...children);
  }
  return found.reverse();
}

const commandOf = (pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; } };

/** The PID of the server (node running `script`) under `parent`. */
function serverPid(parent, script) {
  return [parent, ...descendants(parent)].find((pid) => { const cmd = commandOf(pid); return cmd[0]?.endsWith('node') && cmd.includes(script); });
}

/** The container's PID 1, tini, under `parent` (buildah run). */
function findTini(parent) {
  return descendants(parent).find((pid) => commandOf(pid)[0] === '/usr/local/bin/tini');
}

/**
 * Starts a server (argv), measures and checks it, stops it with SIGTERM.
 * `signalPid` finds the process SIGTERM goes to (the container's PID 1, tini).
 */
async function exercise(label, argv, env, script, stop) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  if (typeof argv === 'function') argv = argv(port);
  log(`${label}: starting ${argv.slice(0, 3).join(' ')} ... on port ${port}`);
  const started = performance.now();
  const child = spawn(argv[0], argv.slice(1), { cwd: root, env: { ...env(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const result = { label };
  try {
    let ready = false;
    while (performance.now() - started < 120_000) {
      if (child.exitCode !== null) break;
      try { if ((await fetch(`${base}/readyz`)).status === 200) { ready = true; break; } } catch { /* not listening yet */ }
      await sleep(50);
    }
    result.readyMs = Math.round(performance.now() - started);
    if (!check(ready, `${label}: /readyz is 200`, ready ? `${result.readyMs} ms after start` : `never (last output: ${output.slice(-600)})`)) return result;
    const phone = await phonePhoto(pet.bytes);
    if (phone) {
      const response = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: phone, headers: { 'content-type': 'image/jpeg' } });
      await response.arrayBuffer();
      result.first12mpMs = Math.round(performance.now() - started);
      check(response.status === 200, `${label}: a 12 MP photo is cut out`, `${response.status}, ${result.first12mpMs} ms after start`);
    }
    const response = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: pet.bytes, headers: { 'content-type': 'image/jpeg' } });
    const body = Buffer.from(await response.arrayBuffer());
    const png = pngFacts(body);
    const box = (response.headers.get('x-foreground-box') ?? '').split(',').map(Number);
    const confidence = Number(response.headers.get('x-mask-confidence'));
    const sourceArea = Number(response.headers.get('x-source-width')) * Number(response.headers.get('x-source-height'));
    const boxShare = box.length === 4 ? (box[2] * box[3]) / sourceArea : NaN;
    check(response.status === 200 && response.headers.get('content-type') === 'image/png' && png?.colourType === 6,
      `${label}: ${pet.name} comes back as an RGBA PNG`, `${response.status} ${response.headers.get('content-type')} ${png ? `${png.width}x${png.height} colour type ${png.colourType}` : 'not a PNG'}`);
    check(boxShare > 0.02 && boxShare < 0.98 && confidence > 0.5, `${label}: the cut-out found a subject`, `box ${box.join(',')} (${(boxShare * 100).toFixed(0)} % of the photo), confidence ${confidence}`);
    // The browser files travel in the image (web/): the demo page and the widget's first-load module.
    const page = await fetch(`${base}/`);
    const pageText = await page.text();
    check(page.status === 200 && /text\/html/.test(page.headers.get('content-type') ?? '') && /<html/i.test(pageText), `${label}: the demo page is served at /`, `${page.status} ${page.headers.get('content-type')}`);
    const widget = await fetch(`${base}/widget/petcut-uploader.js`);
    const widgetText = await widget.text();
    check(widget.status === 200 && /customElements\.define/.test(widgetText), `${label}: the widget's module is served at /widget/petcut-uploader.js`, `${widget.status}, ${widgetText.length} bytes`);
    // The vendored browser libraries the image keeps (the Dockerfile prunes the rest of swagger-ui-dist).
    for (const path of ['/docs/vendor/swagger-ui-bundle.js', '/dashboard/vendor/uPlot.iife.min.js']) {
      const file = await fetch(`${base}${path}`);
      const bytes = (await file.arrayBuffer()).byteLength;
      check(file.status === 200 && bytes > 10_000, `${label}: ${path} is served`, `${file.status}, ${bytes} bytes`);
    }
    const metrics = await fetch(`${base}/metrics`);
    const text = await metrics.text();
    check(metrics.status === 200 && /petcut_/.test(text) && /process_resident_memory_bytes/.test(text), `${label}: /metrics answers with petcut's metrics`, `${metrics.status}, ${text.split('\n').length} lines`);
    const pid = serverPid(child.pid, script);
    result.peakRssMb = pid ? peakRssMb(pid) : undefined;
    const stopAsked = performance.now();
    stop(child.pid);
    const timeout = sleep(DRAIN_DEADLINE_MS).then(() => 'timeout');
    const end = await Promise.race([exited, timeout]);
    result.stopMs = Math.round(performance.now() - stopAsked);
    check(end !== 'timeout' && end.code === 0, `${label}: SIGTERM ends it cleanly`, end === 'timeout' ? `still running after ${DRAIN_DEADLINE_MS} ms` : `exit ${end.code ?? end.signal} after ${result.stopMs} ms`);
    if (pid) check(!existsSync(`/proc/${pid}`), `${label}: the server process is gone too (nothing left running)`, `pid ${pid}`);
    return result;
  } finally {
    // The whole tree: `buildah run` leaves its chroot child running when only it is killed.
    if (child.exitCode === null) for (const pid of [...descendants(child.pid), child.pid]) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await exited;
  }
}

// The container: its entrypoint, as the image declares it.
const tool = (...a) => execFileSync(runtime, runtime === 'buildah' ? ['--storage-driver', storage, ...a] : a, { encoding: 'utf8' }).trim();
let config;
try {
  config = runtime === 'buildah' ? JSON.parse(tool('inspect', '--type', 'image', image)).OCIv1.config : JSON.parse(tool('image', 'inspect', image))[0].Config;
} catch (error) {
  console.error(`image:smoke: cannot read image ${image} with ${runtime}${runtime === 'buildah' ? ` (${storage} storage)` : ''}: build it first (npm run image:build). ${String(error.message).split('\n')[0]}`);
  process.exit(1);
}
log(`${image}: entrypoint ${JSON.stringify(config.Entrypoint)}, user ${config.User}, env ${(config.Env ?? []).filter((e) => e.startsWith('PETCUT_')).join(' ')}`);
check(Array.isArray(config.Entrypoint) && config.Entrypoint[0] === '/usr/local/bin/tini' && config.Entrypoint.includes('/app/dist/main.js') && !config.Entrypoint.some((a) => /npm|sh$/.test(a)), 'the entrypoint is tini and the server, no npm or shell');
check(Boolean(config.User) && !/^(0|root)(:|$)/.test(config.User), 'the image runs as a non-root user', config.User);
const labels = config.Labels ?? {};
const head = (() => { try { return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim(); } catch { return undefined; } })();
check(['source', 'revision', 'version'].every((key) => labels[`org.opencontainers.image.${key}`]), 'labels name the source, revision and version', `revision ${labels['org.opencontainers.image.revision']}`);
if (head && process.argv.includes('--this-revision')) check(String(labels['org.opencontainers.image.revision']).startsWith(head), 'the image is of this checkout\'s revision', `${labels['org.opencontainers.image.revision']} vs HEAD ${head}`);

const containers = [];
const newContainer = () => { const id = tool('from', '--pull=never', image); containers.push(id); return id; };
const scratch = mkdtempSync(join(tmpdir(), 'petcut-smoke-'));
const pet = await petPhoto(async () => {
  const argv = runtime === 'buildah'
    ? ['--storage-driver', storage, 'run', '--isolation', 'chroot', '--user', '0:0', '-v', `${scratch}:/out`, newContainer(), '--', 'node', '/app/dist/cli/index.js', 'demo-photo', '/out/pet.jpg']
    : ['run', '--rm', '--user', '0:0', '-v', `${scratch}:/out`, '--entrypoint', 'node', image, '/app/dist/cli/index.js', 'demo-photo', '/out/pet.jpg'];
  execFileSync(runtime, argv, { stdio: 'inherit' });
  return readFileSync(join(scratch, 'pet.jpg'));
});

const report = { image, runtime, container: undefined, host: undefined };
try {
  const name = `petcut-smoke-${process.pid}`;
  const ctr = runtime === 'buildah' ? newContainer() : undefined;
  const argv = (port) => runtime === 'buildah'
    ? ['buildah', '--storage-driver', storage, 'run', '--isolation', 'chroot', '--network', 'host', '--env', `PORT=${port}`, ctr, '--', ...config.Entrypoint, ...(config.Cmd ?? [])]
    // SMOKE_DOCKER_NETWORK: where the container's 127.0.0.1 must be this process's (Cloud Build: container:$HOSTNAME).
    : ['docker', 'run', '--rm', '--name', name, '--network', process.env.SMOKE_DOCKER_NETWORK ?? 'host', '--env', `PORT=${port}`, image];
  report.container = await exercise('container', argv, (port) => ({ ...process.env, PORT: String(port) }), '/app/dist/main.js',
    // SIGTERM goes to the container's PID 1 (tini), as Cloud Run sends it.
    runtime === 'buildah' ? (pid) => process.kill(findTini(pid) ?? pid, 'SIGTERM') : () => tool('kill', '--signal', 'SIGTERM', name));
  if (compare) {
    if (!existsSync(join(root, 'dist', 'main.js'))) usage('--compare needs dist/ (npm run build)');
    const data = mkdtempSync(join(tmpdir(), 'petcut-smoke-host-'));
    report.host = await exercise('npm start', [process.execPath, 'dist/main.js'],
      (port) => ({ PATH: process.env.PATH, HOME: process.env.HOME, MALLOC_ARENA_MAX: '2', PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: data, ...(process.env.PETCUT_MODEL_CACHE_DIR ? { PETCUT_MODEL_CACHE_DIR: process.env.PETCUT_MODEL_CACHE_DIR } : {}) }),
      'dist/main.js', (pid) => process.kill(pid, 'SIGTERM'));
    rmSync(data, { recursive: true, force: true });
  }
} finally {
  for (const id of containers) { try { tool('rm', id); } catch { /* already gone */ } }
  rmSync(scratch, { recursive: true, force: true });
}

if (report.container && report.host) {
  const ratio = (a, b) => (a && b ? +(a / b).toFixed(2) : undefined);
  report.containerOverHost = { readyMs: ratio(report.container.readyMs, report.host.readyMs), first12mpMs: ratio(report.container.first12mpMs, report.host.first12mpMs), peakRssMb: ratio(report.container.peakRssMb, report.host.peakRssMb) };
}
report.failures = failures;
log(JSON.stringify(report));
if (jsonOut) { mkdirSync(dirname(jsonOut), { recursive: true }); writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n'); }
if (failures > 0) { console.error(`image:smoke: ${failures} check(s) failed`); process.exit(1); }
log('every check passed');
