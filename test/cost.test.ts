import { execFile } from 'node:child_process';
import type { ExecFileOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCostConfig } from '../src/cost/config.js';
import { LEDGER_PREFIX } from '../src/cost/index.js';
import { createStore } from '../src/storage/index.js';
import { ledgerSink, mergeLedgers, openLedger } from '../src/cost/ledger.js';
import type { Ledger } from '../src/cost/ledger.js';
import { createCostMeter } from '../src/cost/meter.js';
import type { CostEntry, CostMeterOptions } from '../src/cost/meter.js';
import { DEFAULT_PRICE_FILE, loadPrices, parsePrices } from '../src/cost/prices.js';
import { buildReport, formatReport, NO_SHOP } from '../src/cost/report.js';
import { childEnv } from './support/env.js';

const execFileAsync = promisify(execFile);
/** A command (the CLI) with none of the shell's petcut variables (support/env.ts), outside the repository (no .env). */
const run = (file: string, args: string[], options: ExecFileOptions = {}): Promise<{ stdout: string; stderr: string }> =>
  execFileAsync(file, args, { cwd: tmpdir(), env: childEnv(), ...options, encoding: 'utf8' });
const CLI = new URL('../dist/cli/index.js', import.meta.url).pathname;
const prices = loadPrices();
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 27, 0, 0, 0);

/** A meter on a clock the test moves; its entries collected in memory. */
function meterOn(options: Partial<CostMeterOptions> & { rates: CostMeterOptions['rates'] }) {
  let now = T0;
  const entries: CostEntry[] = [];
  const meter = createCostMeter({ billing: 'instance', requestFee: 0, instance: 'i-1', now: () => now, sink: (batch) => entries.push(...batch), ...options });
  return { meter, entries, at: (ms: number) => void (now = T0 + ms) };
}

// The production shape of the plan: 4 vCPU, 16 GiB, one L4, instance-based billing.
const L4 = { vcpu: 4 * 0.000018, memory: 16 * 0.000002, gpu: 0.0001867 };
const L4_RATE = L4.vcpu + L4.memory + L4.gpu; // $0.0002907 per second

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'petcut-cost-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('cost meter: a hand calculation', () => {
  it('splits busy time between the photos in flight and books the rest as idle', () => {
    const { meter, entries, at } = meterOn({ rates: () => L4 });
    // One hour of instance life: A runs 100-120 s, B 110-130 s (10 s together), idle otherwise.
    at(100_000); const a = meter.begin({ shop: 'a.myshopify.com', session: 's1' });
    at(110_000); const b = meter.begin({ shop: 'b.myshopify.com', session: 's2' });
    at(120_000); a.end(1);
    at(130_000); b.end(1);
    at(HOUR); meter.close();
    // By hand: A = 10 s alone + 10 s / 2 = 15 s; B the same; idle = 3600 - 30 = 3570 s.
    const work = entries.filter((e) => e.kind === 'work');
    expect(work.map((e) => e.seconds)).toEqual([15, 15]);
    const cost = (e: CostEntry) => e.usd.vcpu + e.usd.memory + e.usd.gpu;
    expect(cost(work[0]!)).toBeCloseTo(15 * L4_RATE, 12); // $0.0043605
    const idle = entries.filter((e) => e.kind === 'idle');
    expect(idle.reduce((s, e) => s + e.seconds, 0)).toBeCloseTo(3570, 9);
    expect(idle.map((e) => [e.startedAt - T0, e.endedAt - T0])).toEqual([[0, 100_000], [130_000, HOUR]]);

    const report = buildReport(entries, { from: T0, to: T0 + HOUR }, prices);
    // Total: 3600 s x $0.0002907 = $1.04652; idle 3570 s = $1.037799; cost per 1000 = $1.04652 / 2 x 1000.
    expect(report.spend.total.toFixed(2)).toBe('1.05');
    expect(report.spend.total).toBeCloseTo(1.04652, 9);
    expect(report.spend.gpu).toBeCloseTo(3600 * 0.0001867, 9);
    expect(report.idleUsd).toBeCloseTo(1.037799, 9);
    expect(report.idleShare).toBeCloseTo(3570 / 3600, 9);
    expect(report.costPer1000Images).toBeCloseTo(523.26, 9);
    expect(report.images).toBe(2);
    // Idle shared out by busy cost: equal busy shares, so half each: 0.0043605 + 1.037799 / 2.
    expect(report.customers.map((c) => [c.shop, c.images, c.totalUsd.toFixed(4)])).toEqual([
      ['a.myshopify.com', 1, '0.5233'], ['b.myshopify.com', 1, '0.5233'],
    ]);
    const text = formatReport(report);
    expect(text).toContain('spend              $1.05');
    expect(text).toContain('cost / 1000 images $523.26');
    expect(text).toContain('idle               $1.04 = 99.2 % of spend (3570 s idle, 30 s busy)');
    expect(text).toMatch(/a\.myshopify\.com\s+1\s+1\s+\$0\.00\s+\$0\.52\s+\$0\.52\s+\$523\.26/);
    // Budget: one hour of the $200 day.
    expect(report.budget!.budgetUsd).toBeCloseTo(200 / 24, 9);
  });

  it('request-based billing: idle time is free and every request pays its fee', () => {
    const cpu = { vcpu: 2 * 0.000024, memory: 2 * 0.0000025, gpu: 0 };
    const { meter, entries, at } = meterOn({ rates: () => cpu, billing: 'request', requestFee: 0.4 / 1e6 });
    at(1000); const work = meter.begin({ shop: 'a.myshopify.com', session: 's1' });
    for (let i = 0; i < 1000; i++) meter.request({ shop: 'a.myshopify.com', session: 's1' });
    meter.request(undefined);
    at(3000); work.end(1);
    at(HOUR); meter.close();
    const report = buildReport(entries, { from: T0, to: T0 + HOUR });
    // 2 s busy x $0.000053 + 1001 requests x $0.0000004.
    expect(report.spend.vcpu + report.spend.memory).toBeCloseTo(2 * 0.000053, 12);
    expect(report.spend.requests).toBeCloseTo(1001 * 0.4e-6, 12);
    expect(report.idleUsd).toBe(0);
    expect(report.idleSeconds).toBeCloseTo(3598, 9);
    expect(report.requests).toBe(1001);
    expect(report.customers.find((c) => c.shop === NO_SHOP)?.totalUsd).toBeCloseTo(0.4e-6, 15);
    expect(meter.totals().byShop.get('none')).toBeCloseTo(0.4e-6, 15);
  });

  it('matches an independent calculation on a generated day of traffic, to the cent', () => {
    // 3000 photos (the plan's average day) from 7 shops over 24 hours, overlapping at random.
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const works = Array.from({ length: 3000 }, (_, i) => {
      const start = Math.floor(random() * (24 * HOUR - 60_000));
      return { start, end: start + 200 + Math.floor(random() * 20_000), shop: `shop-${i % 7}.myshopify.com`, session: `s${Math.floor(random() * 400)}`, ok: random() > 0.03 };
    });
    const { meter, entries, at } = meterOn({ rates: () => L4, idleEntryMs: 60_000 });
    const events = works.flatMap((w, i) => [{ t: w.start, i, begin: true }, { t: w.end, i, begin: false }]).sort((x, y) => x.t - y.t || Number(x.begin) - Number(y.begin));
    const tickets = new Map<number, ReturnType<typeof meter.begin>>();
    let nextFlush = 60_000;
    for (const event of events) {
      while (nextFlush < event.t) { at(nextFlush); meter.flush(); nextFlush += 60_000; }
      at(event.t);
      if (event.begin) tickets.set(event.i, meter.begin({ shop: works[event.i]!.shop, session: works[event.i]!.session }));
      else tickets.get(event.i)!.end(works[event.i]!.ok ? 1 : 0);
    }
    at(24 * HOUR); meter.close();

    // Independently: the instance costs its lifetime; busy time is the union of the work intervals;
    // each elementary interval's cost is split evenly between the works covering it.
    const times = [...new Set(works.flatMap((w) => [w.start, w.end]))].sort((x, y) => x - y);
    const shopBusy = new Map<string, number>();
    let busyMs = 0;
    for (let k = 0; k + 1 < times.length; k++) {
      const [t1, t2] = [times[k]!, times[k + 1]!];
      const covering = works.filter((w) => w.start <= t1 && w.end >= t2);
      if (covering.length === 0) continue;
      busyMs += t2 - t1;
      for (const w of covering) shopBusy.set(w.shop, (shopBusy.get(w.shop) ?? 0) + ((t2 - t1) / 1000) * L4_RATE / covering.length);
    }
    const total = 24 * 3600 * L4_RATE;
    const idle = ((24 * HOUR - busyMs) / 1000) * L4_RATE;
    const busyTotal = total - idle;

    const report = buildReport(entries, { from: T0, to: T0 + 24 * HOUR }, prices);
    const cents = (usd: number) => Math.round(usd * 100);
    expect(cents(report.spend.total)).toBe(cents(total));
    expect(cents(report.idleUsd)).toBe(cents(idle));
    expect(report.images).toBe(works.filter((w) => w.ok).length);
    expect(Math.abs(report.costPer1000Images! - (total / report.images) * 1000)).toBeLessThan(0.005);
    for (const customer of report.customers) {
      const busy = shopBusy.get(customer.shop)!;
      expect(Math.abs(customer.busyUsd - busy)).toBeLessThan(0.005);
      expect(Math.abs(customer.totalUsd - (busy + idle * busy / busyTotal))).toBeLessThan(0.005);
    }
    expect(report.customers).toHaveLength(7);
    // Idle entries are closed at the first flush a minute after they began: at most two flush periods long.
    expect(Math.max(...entries.filter((e) => e.kind === 'idle').map((e) => e.endedAt - e.startedAt))).toBeLessThanOrEqual(120_000);
    // Two half days add up to the whole day.
    const halves = [buildReport(entries, { from: T0, to: T0 + 12 * HOUR }), buildReport(entries, { from: T0 + 12 * HOUR, to: T0 + 24 * HOUR })];
    expect(halves[0]!.spend.total + halves[1]!.spend.total).toBeCloseTo(report.spend.total, 9);
    expect(halves[0]!.images + halves[1]!.images).toBe(report.images);
  });

  it('prorates an idle stretch cut by the report window', () => {
    const { meter, entries, at } = meterOn({ rates: () => ({ vcpu: 1, memory: 0, gpu: 0 }), idleEntryMs: HOUR });
    at(HOUR); meter.close();
    expect(entries).toHaveLength(1);
    const quarter = buildReport(entries, { from: T0 + 15 * 60_000, to: T0 + 30 * 60_000 });
    expect(quarter.spend.total).toBeCloseTo(900, 9);
    expect(quarter.idleShare).toBe(1);
    expect(quarter.costPer1000Images).toBeUndefined();
  });
});

describe('cost ledger (SQLite)', () => {
  it('stores what the meter writes and reads it back', () => {
    const path = join(dir, 'one.sqlite');
    const ledger = openLedger(path);
    const { meter, at } = meterOn({ rates: () => L4, sink: (batch) => ledger.append(batch), instance: 'i-one' });
    at(5000); const work = meter.begin({ shop: 'a.myshopify.com', session: 's1' });
    at(7500); work.end(1);
    at(60_000); meter.close();
    const back = ledger.read(T0, T0 + HOUR);
    ledger.close();
    expect(back.map((e) => [e.id, e.kind, e.shop, e.session, e.images])).toEqual([
      ['i-one:1', 'idle', undefined, undefined, 0], ['i-one:2', 'work', 'a.myshopify.com', 's1', 1], ['i-one:3', 'idle', undefined, undefined, 0],
    ]);
    expect(back[1]!.usd.gpu).toBeCloseTo(2.5 * 0.0001867, 12);
  });

  it('merges any instance\'s ledger into another, once', () => {
    const files = ['a', 'b'].map((name, i) => {
      const path = join(dir, `merge-${name}.sqlite`);
      const ledger = openLedger(path);
      const { meter, at } = meterOn({ rates: () => L4, sink: (batch) => ledger.append(batch), instance: `i-${name}` });
      at(1000 * (i + 1)); const work = meter.begin({ shop: `${name}.myshopify.com` });
      at(10_000); work.end(1);
      at(HOUR); meter.close();
      ledger.close();
      return path;
    });
    const target = join(dir, 'merged.sqlite');
    expect(mergeLedgers(target, files)).toEqual({ added: 6, seen: 6 });
    expect(mergeLedgers(target, files)).toEqual({ added: 0, seen: 6 });
    const merged = openLedger(target, { readonly: true });
    const report = buildReport(merged.read(T0, T0 + HOUR), { from: T0, to: T0 + HOUR });
    merged.close();
    expect(report.instances).toBe(2);
    expect(report.images).toBe(2);
    expect(report.spend.total).toBeCloseTo(2 * 3600 * L4_RATE, 9);
  });

  it('keeps entries through a failed write and writes them on the next flush', () => {
    const written: CostEntry[] = [];
    let broken = true;
    const ledger: Ledger = { path: 'x', append: (entries) => { if (broken) throw new Error('disk full'); written.push(...entries); }, read: () => [], snapshot: () => Buffer.alloc(0), close: () => undefined };
    const errors: unknown[] = [];
    const sink = ledgerSink(ledger, (error) => errors.push(error), 3);
    const { meter, at } = meterOn({ rates: () => L4, sink, idleEntryMs: 1 });
    for (let i = 1; i <= 5; i++) { at(i * 1000); meter.flush(); }
    expect(errors).toHaveLength(1);
    broken = false;
    at(6000); meter.flush();
    // Bounded: only the newest 3 of the 5 failed entries were held, then the 6th was written with them.
    expect(written.map((e) => e.id)).toEqual(['i-1:3', 'i-1:4', 'i-1:5', 'i-1:6']);
  });
});

describe('price file and cost settings', () => {
  const base = parse(readFileSync(DEFAULT_PRICE_FILE, 'utf8')) as Record<string, unknown>;
  // The file as loosely typed YAML: each case breaks one field at any depth.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Loose = Record<string, any>;
  const broken = (change: (file: Loose) => void): string => {
    const file = structuredClone(base) as Loose;
    change(file);
    return JSON.stringify(file);
  };

  it.each([
    [broken((f) => delete f.billing.instance.vcpuSecond), 'billing.instance.vcpuSecond: is missing'],
    [broken((f) => (f.billing.request.gibSecond = 'cheap')), 'billing.request.gibSecond: must be a number (USD)'],
    [broken((f) => (f.billing.instance.requestsPerMillion = -1)), 'billing.instance.requestsPerMillion: must not be negative'],
    [broken((f) => (f.gpus['nvidia-l4'].hour = 0.67)), 'gpus.nvidia-l4.hour: unknown field'],
    [broken((f) => (f.gpus['NVIDIA L4'] = { second: 1 })), 'gpus.NVIDIA L4: not a GPU name'],
    [broken((f) => (f.budgets.daily = 0)), 'budgets.daily: must be more than 0'],
    [broken((f) => delete f.budgets), 'budgets: is missing'],
    [broken((f) => (f.currency = 'EUR')), 'currency: must be USD'],
    [broken((f) => (f.budget = { daily: 1 })), 'budget: unknown field'],
    ['billing: [', 'not YAML'],
  ])('a malformed price file names the field (%#)', (text, message) => {
    expect(() => parsePrices(text)).toThrow(message);
  });

  it('the bundled budgets are the alert rules\' budgets', async () => {
    const rules = await readFile(new URL('../deploy/prometheus/alerts.yml', import.meta.url), 'utf8');
    expect(rules).toContain(`petcut:cost_usd:increase1d > 0.75 * ${prices.budgets.daily}`);
    expect(rules).toContain(`petcut:cost_usd:increase1w > 0.90 * ${prices.budgets.weekly}`);
    expect(prices.budgets).toEqual({ daily: 200, weekly: 1200, monthly: 5000 });
  });

  it('prices the instance from its shape and billing mode', async () => {
    const gpu = loadCostConfig({ PETCUT_COST_VCPUS: '4', PETCUT_COST_MEMORY_GIB: '16', PETCUT_COST_GPUS: '1' }, dir);
    expect(gpu.billing).toBe('instance');
    expect(gpu.rates.vcpu + gpu.rates.memory + gpu.rates.gpu).toBeCloseTo(L4_RATE, 12);
    expect(gpu.requestFee).toBe(0);
    expect(gpu.ledger).toBe(join(dir, 'cost', 'ledger-{instance}.sqlite'));
    const cpu = loadCostConfig({ PETCUT_COST_VCPUS: '2', PETCUT_COST_MEMORY_GIB: '4', PETCUT_COST_GPUS: '0', PETCUT_COST_LEDGER: 'off' }, dir);
    expect(cpu.billing).toBe('request');
    expect(cpu.rates).toEqual({ vcpu: 2 * 0.000024, memory: 4 * 0.0000025, gpu: 0 });
    expect(cpu.requestFee).toBeCloseTo(0.4e-6, 15);
    expect(cpu.ledger).toBeUndefined();
    const file = join(dir, 'bad-prices.yml');
    await writeFile(file, broken((f) => delete f.billing.request.vcpuSecond));
    expect(() => loadCostConfig({ PETCUT_COST_PRICES: file }, dir)).toThrow(`price file ${file}: billing.request.vcpuSecond: is missing`);
    expect(() => loadCostConfig({ PETCUT_COST_PRICES: join(dir, 'nope.yml') }, dir)).toThrow('PETCUT_COST_PRICES: cannot read');
    expect(() => loadCostConfig({ PETCUT_COST_GPUS: '1', PETCUT_COST_GPU_TYPE: 'nvidia-t4' }, dir)).toThrow('PETCUT_COST_GPU_TYPE: nvidia-t4 has no price');
    expect(() => loadCostConfig({ PETCUT_COST_VCPUS: 'lots' }, dir)).toThrow('PETCUT_COST_VCPUS');
    expect(() => loadCostConfig({ PETCUT_COST_BILLING: 'monthly' }, dir)).toThrow('PETCUT_COST_BILLING');
  });
});

describe('petcut cost (CLI)', () => {
  let ledgerA: string;
  let ledgerB: string;
  beforeAll(() => {
    [ledgerA, ledgerB] = ['a', 'b'].map((name) => {
      const path = join(dir, `cli-${name}.sqlite`);
      const ledger = openLedger(path);
      const { meter, at } = meterOn({ rates: () => L4, sink: (batch) => ledger.append(batch), instance: `cli-${name}` });
      for (let i = 0; i < 10; i++) {
        at(i * 60_000); const work = meter.begin({ shop: name === 'a' ? 'big.myshopify.com' : 'small.myshopify.com', session: `s${i % 3}` });
        at(i * 60_000 + 30_000); work.end(1);
      }
      at(HOUR); meter.close();
      ledger.close();
      return path;
    }) as [string, string];
  });

  it('report: spend, images, cost per 1000, idle share and top customers over several ledgers', async () => {
    const { stdout } = await run('node', [CLI, 'cost', 'report', '--from', new Date(T0).toISOString(), '--to', new Date(T0 + HOUR).toISOString(), '--ledger', ledgerA, '--ledger', ledgerB]);
    // Two instances x 1 h x $0.0002907 = $2.09304; 20 images; busy 2 x 10 x 30 s.
    expect(stdout).toContain('(2 instances)');
    expect(stdout).toContain('spend              $2.09');
    expect(stdout).toContain('images             20');
    expect(stdout).toContain('cost / 1000 images $104.65');
    expect(stdout).toContain('= 91.7 % of spend (6600 s idle, 600 s busy)');
    expect(stdout).toMatch(/big\.myshopify\.com\s+3\s+10\s+\$0\.09\s+\$0\.96\s+\$1\.05/);
    const json = JSON.parse((await run('node', [CLI, 'cost', 'report', '--from', '2026-11-27', '--to', '2026-11-27', '--ledger', ledgerA, '--json'])).stdout);
    expect(json.images).toBe(10);
    expect(json.spend.total).toBeCloseTo(3600 * L4_RATE, 9);
    expect(json.budget.days).toBe(1);
    // By shopper session: s0 had photos 0, 3, 6 and 9 of each shop.
    const bySession = JSON.parse((await run('node', [CLI, 'cost', 'report', '--from', '2026-11-27', '--to', '2026-11-27', '--ledger', ledgerA, ledgerB, '--by', 'session', '--json', '--top', '50'])).stdout);
    expect(bySession.customers).toHaveLength(6);
    expect(bySession.customers.find((c: { shop: string; session: string }) => c.shop === 'big.myshopify.com' && c.session === 's0')).toMatchObject({ images: 4, sessions: 1 });
    expect(bySession.customers.reduce((s: number, c: { totalUsd: number }) => s + c.totalUsd, 0)).toBeCloseTo(json.spend.total * 2, 9);
  });

  it('merge, then report from the merged file', async () => {
    const target = join(dir, 'cli-merged.sqlite');
    const { stdout } = await run('node', [CLI, 'cost', 'merge', '--into', target, ledgerA, ledgerB]);
    expect(stdout).toContain('added 40 of 40 entries');
    const again = await run('node', [CLI, 'cost', 'merge', '--into', target, ledgerA]);
    expect(again.stdout).toContain('added 0 of 20 entries');
    const json = JSON.parse((await run('node', [CLI, 'cost', 'report', '--from', '2026-11-27', '--to', '2026-11-27', '--ledger', target, '--json'])).stdout);
    expect(json.images).toBe(20);
    // An instance's entries in two files (its own and the merged one) count once.
    const both = JSON.parse((await run('node', [CLI, 'cost', 'report', '--from', '2026-11-27', '--to', '2026-11-27', '--ledger', ledgerA, target, '--json'])).stdout);
    expect(both.images).toBe(20);
    expect(both.spend.total).toBeCloseTo(json.spend.total, 12);
  });

  it('--store reads the ledger copies instances uploaded to the configured storage', async () => {
    const data = join(dir, 'store-data');
    const store = createStore({ kind: 'fs', root: data });
    const env = childEnv({ PETCUT_STORAGE: 'fs', PETCUT_DATA_DIR: data });
    const empty = await run('node', [CLI, 'cost', 'report', '--store'], { env }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(empty?.code).toBe(2);
    expect(empty?.stderr).toContain(`no ledger copies under ${LEDGER_PREFIX}`);
    for (const path of [ledgerA, ledgerB]) {
      const ledger = openLedger(path, { readonly: true });
      await store.put(`${LEDGER_PREFIX}${path.split('/').pop()}`, ledger.snapshot(), { contentType: 'application/vnd.sqlite3' });
      ledger.close();
    }
    const json = JSON.parse((await run('node', [CLI, 'cost', 'report', '--from', '2026-11-27', '--to', '2026-11-27', '--store', '--json'], { env })).stdout);
    expect(json.images).toBe(20);
    expect(json.instances).toBe(2);
  });

  it('bad arguments and files are clear errors', async () => {
    const fail = (args: string[]) => run('node', [CLI, 'cost', ...args]).then(() => { throw new Error('expected a failure'); }, (error: { code: number; stderr: string }) => error);
    const badDate = await fail(['report', '--from', 'yesterday', '--ledger', ledgerA]);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain('--from: not a date');
    const missing = await fail(['report', '--ledger', join(dir, 'nope.sqlite')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.sqlite');
    const notLedger = join(dir, 'not-a-ledger.sqlite');
    await writeFile(notLedger, 'hello');
    expect((await fail(['report', '--ledger', notLedger])).stderr).toContain('not a petcut cost ledger');
    expect((await fail(['report', '--from', '2026-11-28', '--to', '2026-11-27', '--ledger', ledgerA])).stderr).toContain('--to must be after --from');
  });
});
