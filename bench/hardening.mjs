#!/usr/bin/env node
// Hardening benchmark (issue #12): node bench/hardening.mjs <12mp.jpg> -> JSON on stdout.
// 1. The stalled-upload attack (60 uploads of 29 MB from one address that stop after
//    28 MB): peak RSS growth of the service with the protections (defaults) and without
//    them (no upload-buffer or per-address bound, no pace floor, a queue of 1000: what
//    main did before), and a real cut-out from another address meanwhile.
// 2. Refusal latency: a 503 decided on the headers, against the time the same 5 MB
//    body takes just to arrive (what a refusal after the body cost).
// 3. The new checks per request: session resolution and a reservation, in-process.
// 4. Overload: the engine's capacity (closed loop), then open-loop arrivals at 2x and
//    10x it, with and without admission by deadline: goodput, admitted P50/P95,
//    refusal latency, and the load generator's own CPU share.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueJpeg } from './unique.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const photo = readFileSync(process.argv[2]);
const MB = 1024 * 1024;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;
const seconds = Number(process.env.HARDENING_SECONDS ?? 40);
const progress = (...args) => console.error('[hardening]', ...args);

async function service(env = {}) {
  const port = 19000 + Math.floor(Math.random() * 1000);
  const dir = mkdtempSync(join(tmpdir(), 'petcut-hardening-'));
  const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], {
    env: { ...process.env, PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'error', MALLOC_ARENA_MAX: '2', PETCUT_COST_LEDGER: 'off',
      PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) break;
    if (i > 600) throw new Error('service did not become ready');
    await sleep(50);
  }
  const rssMb = () => Number(readFileSync(`/proc/${child.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')).split(/\s+/)[1]) / 1024;
  return {
    base, rssMb,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function raw(base, head) {
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  let text = '';
  const answered = new Promise((resolve) => {
    socket.on('data', (chunk) => { text += chunk.toString('latin1'); if (text.includes('\r\n\r\n')) resolve(text); });
    socket.on('close', () => resolve(text));
  });
  socket.on('error', () => undefined);
  socket.write(head);
  return { socket, answered };
}

const uploadHead = (length) => `POST /v1/cutouts?size=preview HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: ${length}\r\n\r\n`
  + '--b0undary\r\nContent-Disposition: form-data; name="image"; filename="pet.jpg"\r\nContent-Type: image/jpeg\r\n\r\n';

async function cutout(base, size = 'preview') {
  const t = performance.now();
  const response = await fetch(`${base}/v1/cutouts?size=${size}`, { method: 'POST', body: uniqueJpeg(photo), headers: { 'content-type': 'image/jpeg' } });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - t, code: response.status === 503 ? 'refused' : String(response.status) };
}

/** A cut-out sent from another loopback address (127.0.0.2): a shopper who is not the attacker. */
function cutoutFromElsewhere(base) {
  const url = new URL(`${base}/v1/cutouts?size=preview`);
  const body = uniqueJpeg(photo);
  const t = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', localAddress: '127.0.0.2', headers: { 'content-type': 'image/jpeg', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t }));
    req.end(body);
  });
}

async function stalledAttack(env) {
  const svc = await service(env);
  await cutout(svc.base);
  const before = svc.rssMb();
  const filler = Buffer.alloc(28 * MB, 0x41);
  const attackers = Array.from({ length: 60 }, () => {
    const exchange = raw(svc.base, uploadHead(29 * MB));
    exchange.socket.write(filler);
    return exchange;
  });
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, svc.rssMb())), 50);
  await sleep(3000);
  const meanwhile = await cutoutFromElsewhere(svc.base);
  await sleep(5000);
  clearInterval(sampler);
  const answers = await Promise.all(attackers.map((a) => Promise.race([a.answered, sleep(100).then(() => '')])));
  attackers.forEach((a) => a.socket.destroy());
  await svc.stop();
  const statuses = {};
  for (const a of answers) { const s = /^HTTP\/1\.1 (\d+)/.exec(a)?.[1] ?? 'none yet'; statuses[s] = (statuses[s] ?? 0) + 1; }
  return { rssBeforeMb: Math.round(before), peakGrowthMb: Math.round(peak - before), realCutoutMeanwhile: { status: meanwhile.status, ms: Math.round(meanwhile.ms) }, attackerAnswers: statuses };
}

async function refusalLatency() {
  const svc = await service({ PETCUT_QUEUE_MAX: '0', PETCUT_UPLOADS_PER_ADDRESS: '0' });
  const holders = [raw(svc.base, uploadHead(MB)), raw(svc.base, uploadHead(MB))];
  await sleep(500);
  const refusals = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    const exchange = raw(svc.base, uploadHead(5 * MB));
    const answer = await exchange.answered;
    refusals.push(performance.now() - t);
    if (!answer.startsWith('HTTP/1.1 503')) throw new Error(`expected a 503, got ${answer.slice(0, 40)}`);
    exchange.socket.destroy();
  }
  holders.forEach((h) => h.socket.destroy());
  await sleep(200);
  // What the old flow paid before its refusal: the body had to arrive first.
  const body = Buffer.concat([photo.subarray(0, Math.min(photo.length, 5 * MB)), Buffer.alloc(Math.max(0, 5 * MB - photo.length))]);
  const arrivals = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const response = await fetch(`${svc.base}/v1/cutouts?size=preview&format=gif`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });
    await response.arrayBuffer();
    arrivals.push(performance.now() - t);
  }
  await svc.stop();
  const refusedMs = pct(refusals, 0.5);
  const afterBodyMs = pct(arrivals, 0.5);
  return { refusedOnHeadersMs: { p50: +refusedMs.toFixed(2), p95: +pct(refusals, 0.95).toFixed(2) }, answeredAfter5MbBodyMs: +afterBodyMs.toFixed(2), ratio: +(refusedMs / afterBodyMs).toFixed(3) };
}

async function checksPerRequest() {
  const { createCapacity } = await import('../dist/service/capacity.js');
  const { resolveSession } = await import('../dist/http/session.js');
  const capacity = createCapacity({ concurrency: 2, queueMax: 8, memoryPressure: 0.9, retryAfterS: 5, probe: async () => ({ usedBytes: 0, limitBytes: 1, source: 'configured', rssBytes: 0 }), uploadBytesMax: 512 * MB, deadlineS: 5 });
  const request = { headers: { 'x-session-id': 'bench-session-0001' }, query: { session_id: 'bench-session-0001' }, params: { sessionId: 'bench-session-0001' }, principal: undefined, routeOptions: { config: {} } };
  const n = 200_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) resolveSession(request);
  const sessionNs = ((performance.now() - t) / n) * 1e6;
  t = performance.now();
  for (let i = 0; i < n; i++) {
    const reservation = capacity.reserve({ images: 1, bytes: 5 * MB });
    reservation.takeImage()();
    reservation.release();
  }
  const reserveNs = ((performance.now() - t) / n) * 1e6;
  capacity.close();
  return { resolveSessionNs: Math.round(sessionNs), reserveAndReleaseNs: Math.round(reserveNs) };
}

/** Closed loop: `clients` clients back to back; the engine's capacity when they are as many as its workers. */
async function capacityOf(base, clients, ms) {
  const started = performance.now();
  let done = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() - started < ms) if ((await cutout(base)).status === 200) done++;
  }));
  return done / ((performance.now() - started) / 1000);
}

/** Open loop: Poisson arrivals at `rate` per second for `ms`, one attempt each (a 503 goes elsewhere). */
async function openLoop(base, rate, ms) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const attempts = [];
  let next = started;
  while (next - started < ms) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    attempts.push(cutout(base));
    next += -Math.log(1 - Math.random()) * (1000 / rate);
  }
  const results = await Promise.all(attempts);
  const wallS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 503);
  return {
    offeredPerS: +(attempts.length / (ms / 1000)).toFixed(3), goodputPerS: +(ok.length / wallS).toFixed(3),
    admittedMs: { p50: Math.round(pct(ok.map((r) => r.ms), 0.5)), p95: Math.round(pct(ok.map((r) => r.ms), 0.95)) },
    refused: refused.length, refusalMs: { p50: Math.round(pct(refused.map((r) => r.ms), 0.5)) },
    other: results.length - ok.length - refused.length,
    generatorCpuShare: +(((used.user + used.system) / 1e6) / (wallS * availableParallelism())).toFixed(3),
  };
}

async function overload(deadline) {
  // One generator address: the per-address upload bound would only measure itself.
  const svc = await service({ PETCUT_ADMISSION_DEADLINE_S: deadline, PETCUT_QUEUE_MAX: '8', PETCUT_UPLOADS_PER_ADDRESS: '0' });
  await cutout(svc.base);
  const capacity = await capacityOf(svc.base, 2, 20_000);
  const runs = {};
  for (const factor of [2, 10]) {
    progress(`overload ${factor}x (deadline ${deadline} s), ${seconds} s`);
    runs[`${factor}x`] = await openLoop(svc.base, capacity * factor, seconds * 1000);
    runs[`${factor}x`].goodputOverCapacity = +(runs[`${factor}x`].goodputPerS / capacity).toFixed(3);
    await sleep(3000);
  }
  await svc.stop();
  return { capacityPerS: +capacity.toFixed(3), ...runs };
}

const report = {};
progress('stalled-upload attack, protected');
report.stalledAttack = { protected: await stalledAttack({}) };
progress('stalled-upload attack, unprotected (no caps, no pace floor, queue 1000: what main did before #12)');
report.stalledAttack.unprotected = await stalledAttack({ PETCUT_UPLOAD_BUFFER_MB: '65536', PETCUT_UPLOAD_MIN_KBPS: '0', PETCUT_QUEUE_MAX: '1000', PETCUT_UPLOADS_PER_ADDRESS: '0' });
report.stalledAttack.growthRatio = +(report.stalledAttack.protected.peakGrowthMb / Math.max(1, report.stalledAttack.unprotected.peakGrowthMb)).toFixed(3);
progress('refusal latency');
report.refusal = await refusalLatency();
report.checks = await checksPerRequest();
report.overload = { withDeadline: await overload('5'), queueOnly: await overload('0') };
console.log(JSON.stringify(report));
