// Service start -> /readyz, and the first 12 MP cut-out after it, in fresh `node dist/main.js` processes:
// PETCUT_READY_AFTER_WARMUP=false (ready when the model is loaded) vs true (one inference on zeros first).
// node bench/readyz.mjs <12mp.jpg> [runs]   -> JSON on stdout
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [image, runsArg = '3'] = process.argv.slice(2);
const photo = readFileSync(image);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const freePort = () => new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });

async function once(warmUp) {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'petcut-readyz-'));
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], {
    cwd: root, stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: data, PETCUT_LOG_LEVEL: 'warn', PETCUT_READY_AFTER_WARMUP: String(warmUp), MALLOC_ARENA_MAX: '2' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  try {
    let listeningMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the service exited: ${stderr.slice(-400)}`);
      if (performance.now() - started > 60_000) throw new Error('not ready within 60 s');
      try {
        const status = (await fetch(`${base}/readyz`)).status;
        listeningMs ??= performance.now() - started;
        if (status === 200) break;
      } catch { /* not listening yet */ }
      await sleep(10);
    }
    const readyMs = performance.now() - started;
    const response = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`the first cut-out answered ${response.status}`);
    const firstMs = performance.now() - started;
    return { listeningMs, readyMs, firstCutoutAfterReadyMs: firstMs - readyMs, startToFirstCutoutMs: firstMs };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(data, { recursive: true, force: true });
  }
}

const runs = { false: [], true: [] };
// Interleaved, so both settings see the same machine.
for (let i = 0; i < Number(runsArg); i++) for (const warmUp of [false, true]) runs[warmUp].push(await once(warmUp));
const summary = (list) => Object.fromEntries(Object.keys(list[0]).map((k) => [k, Math.round(median(list.map((r) => r[k])))]));
console.log(JSON.stringify({ runs: Number(runsArg), readyWhenLoaded: summary(runs.false), readyAfterWarmUp: summary(runs.true) }));
