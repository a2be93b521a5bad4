import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadSchedule, scalingAt } from '../src/scaling/schedule.js';
import { startCloudRunFake } from './support/cloudRunFake.js';
import type { CloudRunFake } from './support/cloudRunFake.js';
import { startPrometheus } from './support/prometheus.js';
import { freePort } from './support/redis.js';
import { until } from './support/wait.js';

/**
 * The whole loop with real parts: a real Prometheus evaluates the real alert
 * rules (deploy/prometheus/alerts.yml, `for` shortened) over series a small
 * exporter on loopback serves, a real Alertmanager routes them to a real
 * petcut (a revision of the Cloud Run fake, reached through the service's
 * URL), and petcut sets the service's scaling through the Admin API (the
 * loopback fake: the same REST client as production).
 */
const REF = { project: 'petcut-test', region: 'us-central1', service: 'petcut-production' } as const;
const IMAGE = 'us-docker.pkg.dev/petcut-test/petcut/petcut:mitigations';
const TOKEN = 'alertmanager-to-petcut-token-for-the-process-test';
const ALERTS = ['PetcutTrafficSurge', 'PetcutDailyBudget75', 'PetcutHighMemory'];

let dir: string;
let fake: CloudRunFake;
let exporter: Server;
let alertmanager: ChildProcess | undefined;
let stopPrometheus: (() => void) | undefined;
/** What the exporter serves: the recording rules' outputs the two alerts read. */
const series = { rate30m: 0.1, rate30mLastWeek: 0.1, cost1d: 0, memory: 0.5 };

async function startExporter(): Promise<number> {
  exporter = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4');
    res.end([
      `petcut:http_requests:rate30m ${series.rate30m}`,
      `petcut:http_requests:rate30m_last_week ${series.rate30mLastWeek}`,
      `petcut:cost_usd:increase1d ${series.cost1d}`,
      `petcut:memory_usage:ratio ${series.memory}`, '',
    ].join('\n'));
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  return (exporter.address() as AddressInfo).port;
}

/** The real rules of the three alerts, with `for: 1s` (the expression, labels and annotations as shipped). */
async function testRules(): Promise<string> {
  const shipped = parse(await readFile(new URL('../deploy/prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
  const rules = shipped.groups.flatMap((g) => g.rules).filter((r) => ALERTS.includes(r.alert as string)).map((r): Record<string, unknown> => ({ ...r, for: '1s' }));
  expect(rules.map((r) => r.alert).sort()).toEqual([...ALERTS].sort());
  const file = join(dir, 'rules.yml');
  await writeFile(file, stringify({ groups: [{ name: 'mitigation-test', interval: '1s', rules }] }));
  return file;
}

async function startAlertmanager(webhookUrl: string): Promise<number> {
  const port = await freePort();
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  await writeFile(join(dir, 'alertmanager.yml'), stringify({
    route: {
      receiver: 'people', group_by: ['alertname', 'service'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h',
      // The shipped route's shape: petcut's receiver first, continue: true, people after.
      routes: [{ receiver: 'petcut-mitigations', matchers: [`alertname=~"${ALERTS.join('|')}"`], group_wait: '1s', group_interval: '1s', continue: true }],
    },
    receivers: [
      { name: 'people' },
      { name: 'petcut-mitigations', webhook_configs: [{ url: webhookUrl, send_resolved: true, http_config: { authorization: { type: 'Bearer', credentials_file: join(dir, 'token') } } }] },
    ],
  }));
  alertmanager = spawn('/usr/bin/prometheus-alertmanager', [
    `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'am')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=',
  ], { stdio: 'ignore' });
  await until(() => fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.ok, () => false), 'alertmanager to be ready', 30_000, 200);
  return port;
}

const health = async (): Promise<{ mitigations: { active: Array<{ action: string; alert: string }>; limits: Record<string, number>; cloud: Record<string, unknown> } }> =>
  (await fetch(`${fake.serviceUrl}/health`)).json() as never;
const scaling = (): { minInstanceCount?: number; maxInstanceCount?: number } | undefined => fake.serviceScaling();
const metrics = async (): Promise<string> => (await fetch(`${fake.serviceUrl}/metrics`)).text();
const upload = (): Promise<Response> => fetch(`${fake.serviceUrl}/v1/cutouts`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from('not a photo') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-mitigations-'));
  fake = await startCloudRunFake({
    dataDir: join(dir, 'data'),
    readyTimeoutMs: 90_000,
    baseEnv: {
      PETCUT_LOG_LEVEL: 'warn', PETCUT_COST_LEDGER: 'off', PETCUT_CONCURRENCY: '1', PETCUT_RATE_LIMIT_IP_PER_MIN: '100000', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '100000', PETCUT_RATE_LIMIT_BURST: '1000',
      PETCUT_ALERT_WEBHOOK_TOKEN: TOKEN, PETCUT_MITIGATION_SERVICE: `projects/${REF.project}/locations/${REF.region}/services/${REF.service}`,
      PETCUT_CLOUD_RUN_TOKEN: 'test-access-token', PETCUT_MITIGATION_MIN_INSTANCES: '2', PETCUT_MITIGATION_MAX_INSTANCES: '1',
      PETCUT_MITIGATION_UPLOADS_PER_MIN: '1', PETCUT_MITIGATION_REFRESH_S: '1', PETCUT_MITIGATION_REASSERT_S: '2',
    },
  });
  // The API's address is known once the fake listens: the image's env carries it.
  fake.images.set(IMAGE, { env: { PETCUT_CLOUD_RUN_API: fake.apiBase } });
  const exporterPort = await startExporter();
  const [rules] = await Promise.all([testRules(), fake.createService(REF, { revision: `${REF.service}-a`, containers: [{ name: 'petcut', image: IMAGE }] })]);
  const amPort = await startAlertmanager(`${fake.serviceUrl}/v1/admin/alerts`);
  const prometheus = await startPrometheus(dir, join(dir, 'tsdb'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: ["${rules}"]`,
    `alerting: { alertmanagers: [{ static_configs: [{ targets: ["127.0.0.1:${amPort}"] }] }] }`,
    `scrape_configs: [{ job_name: exporter, static_configs: [{ targets: ["127.0.0.1:${exporterPort}"] }] }]`,
  ].join('\n'));
  stopPrometheus = prometheus.stop;
}, 180_000);

afterAll(async () => {
  stopPrometheus?.();
  alertmanager?.kill('SIGTERM');
  exporter?.close();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('alert-driven mitigations: real Prometheus -> real Alertmanager -> real petcut -> Admin API', () => {
  const schedule = loadSchedule();
  const expected = (floor?: number, cap?: number) => {
    const { min, max } = scalingAt(schedule, new Date());
    const top = Math.min(max, cap ?? Infinity);
    return { minInstanceCount: Math.min(top, Math.max(min, floor ?? 0)), maxInstanceCount: top };
  };

  it('a traffic surge raises min instances; a cost overrun caps max and throttles uploads; both undone when the alerts resolve', async () => {
    const started = Date.now();
    // 1. The surge: 2 requests/s against 0.1 last week.
    series.rate30m = 2;
    await until(() => scaling()?.minInstanceCount === expected(2).minInstanceCount && scaling()?.maxInstanceCount === expected(2).maxInstanceCount,
      `min instances raised (now ${JSON.stringify(scaling())}, want ${JSON.stringify(expected(2))})`, 60_000, 200);
    const surged = Date.now();
    expect((await health()).mitigations.active).toEqual([expect.objectContaining({ action: 'min_instances', alert: 'PetcutTrafficSurge' })]);
    // The scaling change made no revision (service-level scaling only).
    expect(fake.scalingChanges.every((change) => !change.revision)).toBe(true);

    // 2. The cost overrun on top: $160 of $200 in a day.
    series.cost1d = 160;
    await until(async () => (await health()).mitigations.limits.uploadsPerMin === 1, 'the throttle in /health', 60_000, 200);
    await until(() => scaling()?.maxInstanceCount === expected(2, 1).maxInstanceCount, `max instances capped (now ${JSON.stringify(scaling())})`, 30_000, 200);
    // The cap wins over the surge's floor: min never above max.
    expect(scaling()).toEqual(expected(2, 1));
    const view = await health();
    expect(view.mitigations.active.map((m) => m.action).sort()).toEqual(['max_instances', 'min_instances', 'throttle']);
    expect(view.mitigations.cloud).toMatchObject({ service: `projects/${REF.project}/locations/${REF.region}/services/${REF.service}` });
    // Effective: one upload a minute service-wide; the second is refused with the documented code.
    expect((await upload()).status).not.toBe(429);
    const throttled = await upload();
    expect(throttled.status).toBe(429);
    expect(((await throttled.json()) as { error: { code: string } }).error.code).toBe('PETCUT_E_THROTTLED');
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);

    // Memory pressure on top: the instance admits one image at once (petcut's own admission, no new revision).
    series.memory = 0.95;
    await until(async () => (await health()).mitigations.limits.concurrency === 1, 'the concurrency cap in /health', 60_000, 200);
    expect(((await health()) as unknown as { queue: { admissionCap?: number } }).queue.admissionCap).toBe(1);

    // 3. Both resolve: Alertmanager sends the resolutions (send_resolved), petcut returns to the schedule.
    series.rate30m = 0.1;
    series.cost1d = 0;
    series.memory = 0.5;
    await until(async () => (await health()).mitigations.active.length === 0, 'every mitigation undone', 60_000, 200);
    await until(() => scaling()?.minInstanceCount === expected().minInstanceCount && scaling()?.maxInstanceCount === expected().maxInstanceCount,
      `back to the schedule (now ${JSON.stringify(scaling())}, want ${JSON.stringify(expected())})`, 30_000, 200);
    expect((await upload()).status).not.toBe(429);
    expect(((await health()) as unknown as { queue: { admissionCap?: number } }).queue.admissionCap).toBeUndefined();
    const text = await metrics();
    for (const [action, result] of [['min_instances', 'applied'], ['min_instances', 'undone'], ['max_instances', 'applied'], ['max_instances', 'undone'], ['throttle', 'applied'], ['throttle', 'undone'], ['concurrency', 'applied'], ['concurrency', 'undone']]) {
      expect(text, `${action} ${result}`).toMatch(new RegExp(`petcut_mitigations_total\\{[^}]*action="${action}"[^}]*result="${result}"[^}]*\\} 1\\b`));
    }
    expect(text).toMatch(/petcut_mitigation_active\{[^}]*action="min_instances"[^}]*\} 0/);
    expect(text).toMatch(/petcut_mitigation_alerts_total\{[^}]*status="resolved"[^}]*handled="true"[^}]*\} [1-9]/);
    expect(fake.scalingChanges.every((change) => !change.revision)).toBe(true);
    console.log(`surge to raised floor: ${((surged - started) / 1000).toFixed(1)} s; scaling changes: ${JSON.stringify(fake.scalingChanges)}`);
  }, 150_000);
});
