import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, listen } from './support/app.js';

/**
 * End to end with a real Prometheus (Debian package `prometheus`): it
 * scrapes a running petcut every second, loads deploy/prometheus/alerts.yml,
 * and the rules evaluate on what it scraped. The app runs without a model
 * (its engine never loads): /metrics and the cheap routes do not need one.
 */
const RULES = resolve('deploy/prometheus/alerts.yml');

let app: PetcutApp;
let prometheus: ChildProcess | undefined;
let dir: string;
let api: string;
let base: string;

const freePort = (): Promise<number> => new Promise((done, fail) => {
  const server = createServer();
  server.once('error', fail);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => done(port));
  });
});

async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = await response.json() as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  expect(body.status).toBe('success');
  return body.data.result;
}

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  app = (await buildApp(new Promise<Engine>(() => undefined))).app;
  base = await listen(app);
  const target = new URL(base);
  dir = await mkdtemp(join(tmpdir(), 'petcut-prometheus-'));
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  await writeFile(join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: ["${RULES}"]`,
    'scrape_configs:',
    `  - { job_name: petcut, static_configs: [{ targets: ["${target.host}"] }] }`,
  ].join('\n'));
  prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  const started = new Promise<void>((_resolve, reject) => prometheus!.once('error', (error) => reject(new Error(`prometheus is needed (Debian package prometheus): ${error.message}`))));
  await Promise.race([started, until('prometheus to be ready', async () => ((await fetch(`${api}/-/ready`)).ok ? true : undefined))]);
}, 60_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await app?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a real Prometheus scraping petcut', () => {
  it('scrapes the target and evaluates the alert rules on the scraped data', async () => {
    // Traffic: successes and a coded client error, over more than one scrape.
    for (let i = 0; i < 6; i++) {
      expect((await fetch(new URL('/v1/effects', base))).status).toBe(200);
    }
    const up = await until('up == 1', async () => ((await query('up{job="petcut"}'))[0]?.value[1] === '1' ? true : undefined));
    expect(up).toBe(true);
    const scraped = await until('the request counter', async () => {
      const [series] = await query('petcut_http_requests_total{route="/v1/effects",status="200"}');
      return series && Number(series.value[1]) >= 6 ? series : undefined;
    });
    expect(scraped.metric).toMatchObject({ job: 'petcut', method: 'GET', route: '/v1/effects' });
    // An empty label is no label to Prometheus: successes carry no `code`.
    expect(scraped.metric.code).toBeUndefined();
    // A recording rule from alerts.yml, evaluated by Prometheus on the scraped counter.
    const rate = await until('petcut:http_requests:rate5m > 0', async () => {
      const [series] = await query('petcut:http_requests:rate5m');
      return series && Number(series.value[1]) > 0 ? Number(series.value[1]) : undefined;
    });
    expect(rate).toBeGreaterThan(0);
    // The alerting rules are loaded and healthy; with a healthy target none fires.
    const rules = await (await fetch(`${api}/api/v1/rules?type=alert`)).json() as { data: { groups: Array<{ rules: Array<{ name: string; health: string; state: string }> }> } };
    const alerts = rules.data.groups.flatMap((group) => group.rules);
    expect(alerts.map((rule) => rule.name)).toEqual(expect.arrayContaining(['PetcutServiceDown', 'PetcutHighErrorRate', 'PetcutHighMemory', 'PetcutQueueBacklog']));
    const evaluated = await until('every rule evaluated', async () => {
      const now = await (await fetch(`${api}/api/v1/rules?type=alert`)).json() as typeof rules;
      const list = now.data.groups.flatMap((group) => group.rules);
      return list.every((rule) => rule.health === 'ok') ? list : undefined;
    });
    expect(evaluated.find((rule) => rule.name === 'PetcutServiceDown')?.state).toBe('inactive');
    expect(evaluated.find((rule) => rule.name === 'PetcutHighMemory')?.state).toBe('inactive');
  }, 90_000);
});
