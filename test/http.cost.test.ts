import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import { openLedger } from '../src/cost/ledger.js';
import { buildReport } from '../src/cost/report.js';
import type { Engine } from '../src/engine/engine.js';
import { appProxySignature } from '../src/security/shopify.js';
import { buildApp, form, photo, startEngine } from './support/app.js';
import { until } from './support/wait.js';

/**
 * The cost meter in the running service: real cut-outs charged to the shops
 * whose App Proxy signature came with them, the Prometheus counters, and the
 * ledger the service leaves behind, read back by the report.
 */
const SECRET = 'hush';
const L4_RATE = 4 * 0.000018 + 16 * 0.000002 + 0.0001867;
let engine: Engine;
let ledgerDir: string;

beforeAll(async () => {
  engine = await startEngine();
  ledgerDir = await mkdtemp(join(tmpdir(), 'petcut-ledger-'));
});
afterAll(async () => {
  await rm(ledgerDir, { recursive: true, force: true });
  await engine?.close();
});

function signed(path: string, shop: string): string {
  const query: Record<string, string> = { shop, logged_in_customer_id: '', path_prefix: '/apps/petcut', timestamp: String(Math.floor(Date.now() / 1000)) };
  query.signature = appProxySignature(query, SECRET);
  return `${path}?${new URLSearchParams(query).toString()}`;
}

/** The value of one sample of the exposition text. */
function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  if (!line) throw new Error(`no ${name}{${labels}} in the scrape`);
  return Number(line.split(' ')[1]);
}

describe('cost tracking in the service (instance billing, one L4)', () => {
  let app: PetcutApp;
  let builtAt: number;
  beforeAll(async () => {
    builtAt = Date.now();
    ({ app } = await buildApp(engine, {
      env: { PETCUT_SHOPIFY_API_SECRET: SECRET, PETCUT_COST_VCPUS: '4', PETCUT_COST_MEMORY_GIB: '16', PETCUT_COST_GPUS: '1', PETCUT_COST_LEDGER: join(ledgerDir, 'ledger-{instance}.sqlite') },
    }));
  });

  it('charges each cut-out to its shop and session, counts it in the metrics and writes the ledger', async () => {
    const asks = [['a.myshopify.com', 'session-1', 0], ['a.myshopify.com', 'session-2', 9], ['b.myshopify.com', 'session-3', 18]] as const;
    for (const [shop, session, shift] of asks) {
      const response = await app.inject({ method: 'POST', url: signed('/v1/cutouts', shop), payload: form([{ data: await photo(320, 240, 'jpeg', shift) }]), headers: { 'x-session-id': session } });
      expect(response.statusCode, response.body).toBe(200);
    }
    // A refused upload is not a processed photo: no work is charged for it.
    const refused = await app.inject({ method: 'POST', url: signed('/v1/cutouts', 'b.myshopify.com'), payload: form([{ data: Buffer.from('not an image at all') }]) });
    expect(refused.statusCode).toBe(415);

    const first = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const kinds = ['vcpu', 'memory', 'gpu', 'requests'].map((kind) => sample(first, 'petcut_cost_usd_total', `kind="${kind}"`));
    const elapsed = (Date.now() - builtAt) / 1000;
    // The instance's whole lifetime so far, at 4 vCPU + 16 GiB + one L4, instance billing (no request fees).
    expect(kinds[3]).toBe(0);
    const busy = sample(first, 'petcut_instance_seconds_total', 'state="busy"');
    const idle = sample(first, 'petcut_instance_seconds_total', 'state="idle"');
    // The GPU is charged for every second of the instance, busy or idle, and never for more than has passed.
    expect(busy).toBeGreaterThan(0);
    expect(kinds[2]! / 0.0001867).toBeCloseTo(busy + idle, 5);
    expect(kinds[2]! / 0.0001867).toBeLessThanOrEqual(elapsed);
    expect(kinds[0]! / kinds[2]!).toBeCloseTo((4 * 0.000018) / 0.0001867, 9);
    const shopA = sample(first, 'petcut_cost_customer_usd_total', 'shop="a.myshopify.com"');
    const shopB = sample(first, 'petcut_cost_customer_usd_total', 'shop="b.myshopify.com"');
    expect(shopA).toBeGreaterThan(0);
    expect(shopB).toBeGreaterThan(0);
    // Busy + idle = everything; the shops' busy shares are the busy part.
    expect(shopA + shopB).toBeCloseTo(busy * L4_RATE, 9);
    const idleUsd = ['vcpu', 'memory', 'gpu'].reduce((s, kind) => s + sample(first, 'petcut_cost_idle_usd_total', `kind="${kind}"`), 0);
    expect(idleUsd).toBeCloseTo(idle * L4_RATE, 9);
    expect(kinds.reduce((s, v) => s + v, 0)).toBeCloseTo((busy + idle) * L4_RATE, 9);
    // Counters only go up.
    const second = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(second, 'petcut_cost_usd_total', 'kind="gpu"')).toBeGreaterThanOrEqual(kinds[2]!);

    const totals = app.petcut.cost!.meter.totals();
    const ledgerPath = app.petcut.cost!.ledgerPath!;
    await app.shutdown();
    expect(await readdir(ledgerDir)).toContain(ledgerPath.split('/').pop());
    const ledger = openLedger(ledgerPath, { readonly: true });
    const report = buildReport(ledger.read(builtAt - 1000, Date.now() + 1000), { from: builtAt - 1000, to: Date.now() + 1000 });
    ledger.close();
    expect(report.images).toBe(3);
    expect(report.instances).toBe(1);
    expect(report.customers.map((c) => [c.shop, c.sessions, c.images])).toEqual(expect.arrayContaining([['a.myshopify.com', 2, 2], ['b.myshopify.com', 1, 1]]));
    // The ledger holds what the metrics counted, up to the shutdown (a few ms later).
    const counted = totals.usd.vcpu + totals.usd.memory + totals.usd.gpu;
    expect(report.spend.total).toBeGreaterThanOrEqual(counted - 1e-9);
    expect(report.spend.total - counted).toBeLessThan(0.001);
    expect(report.customers.find((c) => c.shop === 'a.myshopify.com')!.busyUsd).toBeCloseTo(totals.byShop.get('a.myshopify.com')!, 9);
  });
});

describe('cost tracking in the service (request billing, CPU only)', () => {
  let app: PetcutApp;
  beforeAll(async () => {
    ({ app } = await buildApp(engine, { env: { PETCUT_COST_VCPUS: '2', PETCUT_COST_MEMORY_GIB: '2', PETCUT_COST_GPUS: '0', PETCUT_COST_LEDGER: 'off' } }));
  });
  afterAll(async () => app?.shutdown());

  it('idle time costs nothing and every request pays the fee', async () => {
    for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'GET', url: '/v1/effects' })).statusCode).toBe(200);
    // Idle time has been counted (the instance has existed for a while) before it is checked to cost nothing.
    let text = '';
    await until(async () => {
      text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      return sample(text, 'petcut_instance_seconds_total', 'state="idle"') > 0.05;
    }, 'some idle seconds to be counted');
    expect(sample(text, 'petcut_cost_usd_total', 'kind="requests"')).toBeCloseTo(5 * 0.4e-6, 15);
    expect(sample(text, 'petcut_cost_usd_total', 'kind="vcpu"')).toBe(0);
    expect(sample(text, 'petcut_cost_usd_total', 'kind="gpu"')).toBe(0);
    expect(sample(text, 'petcut_cost_customer_usd_total', 'shop="none"')).toBeCloseTo(5 * 0.4e-6, 15);
    expect(app.petcut.cost!.ledgerPath).toBeUndefined();
    const health = (await app.inject({ method: 'GET', url: '/health' })).json<{ cost: Record<string, unknown> }>();
    // 2 vCPU x $0.000024 + 2 GiB x $0.0000025 per second = $0.1908 per hour.
    expect(health.cost).toEqual({ metering: true, ledger: false, billing: 'request', vcpus: 2, memoryGiB: 2, gpus: 0, usdPerHour: 0.1908, usdPerMillionRequests: 0.4 });
  });
});
