#!/usr/bin/env node
// Capacity of one instance on this machine: node bench/capacity.mjs -> JSON.
// For preview-size and 12 MP photos, a short step search over sustained rates
// (STEP_SECONDS each, default 25) with `petcut loadtest` (open model, Poisson):
// the highest rate whose warm P95 stays under 5 s, and the first rate with 503s.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stepS = Number(process.env.STEP_SECONDS ?? 25);
const rates = { preview: (process.env.PREVIEW_RATES ?? '0.25,0.5,1,2').split(',').map(Number), phone: (process.env.PHONE_RATES ?? '0.1,0.2,0.4').split(',').map(Number) };
const dir = mkdtempSync(join(tmpdir(), 'petcut-capacity-'));
const port = 18000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;
const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], { cwd: dir, stdio: 'ignore', env: { ...process.env, PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'warn', PETCUT_COST_LEDGER: 'off', MALLOC_ARENA_MAX: '2', PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0' } });
for (let i = 0; ; i++) {
  if (await fetch(`${base}/readyz`).then((r) => r.status === 200).catch(() => false)) break;
  if (i > 600) throw new Error('service did not become ready');
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await fetch(`${base}/warmup`, { method: 'POST' });

function step(size, rate) {
  const profiles = join(dir, 'profiles.yml');
  writeFileSync(profiles, `version: 1\nprofiles:\n  step:\n    description: capacity step\n    streams: [{ name: step, rate: ${rate}, duration_s: ${stepS}, arrival: poisson, mix: [{ scenario: preview }] }]\n    thresholds: { latency: [{ objective: warm-latency, scenarios: [preview] }], errors: availability }\n`);
  const out = join(dir, `${size}-${rate}`);
  try {
    execFileSync(process.execPath, [join(root, 'dist', 'cli', 'index.js'), 'loadtest', base, '--profile', 'step', '--profiles', profiles, '--size', size, '--out', out, '--probe', '0'], { cwd: root, stdio: 'ignore' });
  } catch { /* exit 1: a threshold failed, which is what the search looks for */ }
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const route = report.routes['POST /v1/cutouts?size=preview'];
  const total = Object.values(report.statuses).reduce((a, b) => a + b, 0);
  return { rate, p95Ms: route?.p95 ?? null, answered: route?.count ?? 0, share503: +(((report.statuses['503'] ?? 0) / total) || 0).toFixed(3), achievedRps: report.arrivals[0].achievedRps, generatorCpu: report.generator.cpuShareOfOneCore };
}

const result = { stepSeconds: stepS, cores: (await import('node:os')).availableParallelism() };
for (const size of ['preview', 'phone']) {
  const steps = [];
  for (const rate of rates[size]) {
    const s = step(size, rate);
    steps.push(s);
    if (s.share503 > 0.05 && (s.p95Ms === null || s.p95Ms > 5000)) break; // past the knee: stop
  }
  const ok = steps.filter((s) => s.p95Ms !== null && s.p95Ms < 5000 && s.share503 < 0.005);
  result[size] = { steps, sustainedRpsP95Under5s: ok.length ? ok[ok.length - 1].rate : 0, first503Rps: steps.find((s) => s.share503 > 0)?.rate ?? null };
}
child.kill('SIGTERM');
console.log(JSON.stringify(result));
