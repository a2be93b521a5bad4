import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import { openLedger } from '../src/cost/ledger.js';
import type { Engine } from '../src/engine/engine.js';
import { renderHtml, renderMarkdown } from '../src/ops/report/index.js';
import type { WeeklyReportData } from '../src/ops/report/index.js';
import { buildApp, form, listen, OPERATOR, OPERATOR_KEY, photo, startEngine } from './support/app.js';
import { childEnv } from './support/env.js';
import { startPrometheus } from './support/prometheus.js';
import { startAlertmanager } from './support/alertmanager.js';
import type { TestAlertmanager } from './support/alertmanager.js';
import { until } from './support/wait.js';

/**
 * `petcut report weekly` (#19, docs/kpis.md) against a real service with
 * real traffic (cut-outs by the real model, widget events, ratings, refused
 * credentials), its cost ledger, and the renderer's escaping.
 */
const run = promisify(execFile);
const CLI = new URL('../dist/cli/index.js', import.meta.url).pathname;
let engine: Engine;
let app: PetcutApp;
let base: string;
let ledgers: string;
let alertmanager: TestAlertmanager;
/** An alert whose name and summary are markup: the report must show them as text. */
const HOSTILE_ALERT = 'PetcutHostile<script>alert(1)</script>';

const cli = (args: string[], env: Record<string, string> = {}) => run('node', [CLI, 'report', 'weekly', ...args], { env: childEnv(env), timeout: 60_000 })
  .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }))
  .catch((error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));

beforeAll(async () => {
  ledgers = await mkdtemp(join(tmpdir(), 'petcut-report-ledgers-'));
  [engine, alertmanager] = await Promise.all([startEngine(), startAlertmanager(ledgers)]);
  await alertmanager.fire(HOSTILE_ALERT, { severity: 'critical', service: 'petcut' }, '<img src=x onerror=alert(2)> | not a cell');
  ({ app } = await buildApp(engine, {
    env: { PETCUT_ALERTMANAGER_URL: alertmanager.url, PETCUT_EXPERIMENT: 'pet-finding:pets,all-salient', PETCUT_ORDER_VALUE_USD: '45', PETCUT_ORDERS_PER_DAY: '300', PETCUT_COST_FLUSH_S: '1', PETCUT_COST_LEDGER: join(ledgers, 'ledger-{instance}.sqlite') },
  }));
  base = await listen(app);
  // Traffic: two real cut-outs, a refused cut-out (no credentials needed, a bad image), widget events and ratings.
  for (const shift of [0, 7]) {
    const done = await app.inject({ method: 'POST', url: '/v1/cutouts?size=64', headers: { 'x-session-id': `report-session-0${shift}` }, payload: form([{ data: await photo(96, 72, 'jpeg', shift) }]) });
    expect(done.statusCode, done.body.slice(0, 200)).toBe(200);
  }
  await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: Buffer.from('not an image'), type: 'image/jpeg' }]) });
  for (let i = 0; i < 6; i++) {
    const sessionId = `report-session-${String(i).padStart(2, '0')}`;
    await app.inject({ method: 'POST', url: '/v1/events', payload: { event: 'cutout_shown', sessionId } });
    if (i % 2 === 0) await app.inject({ method: 'POST', url: '/v1/events', payload: { event: 'add_to_cart', sessionId } });
    await app.inject({ method: 'POST', url: `/v1/sessions/${sessionId}/feedback`, payload: { rating: i === 5 ? 'bad' : 'good' } });
  }
  // Refused credentials: an operator route without a key, twice.
  for (let i = 0; i < 2; i++) expect((await app.inject({ method: 'GET', url: '/v1/admin/whoami' })).statusCode).toBe(401);
  await until(async () => {
    const files = (await readdir(ledgers)).filter((f) => f.endsWith('.sqlite'));
    if (files.length === 0) return false;
    const ledger = openLedger(join(ledgers, files[0]!), { readonly: true });
    try {
      // Both cut-outs: the meter flushes every second, so the first may land alone.
      return ledger.read(0, Date.now() + 1000).filter((entry) => entry.kind === 'work').reduce((sum, entry) => sum + entry.images, 0) >= 2;
    } finally {
      ledger.close();
    }
  }, 'the ledger has both cut-outs', 60_000, 200);
  // The service asks Alertmanager at most every 15 s: wait until its KPIs carry the alert.
  await until(async () => (await app.inject({ method: 'GET', url: '/v1/admin/kpis', headers: OPERATOR })).json<{ alerts: { firing: Array<{ name: string }> } }>().alerts.firing.some((a) => a.name === HOSTILE_ALERT), 'the service sees the firing alert', 60_000, 500);
}, 180_000);

afterAll(async () => {
  await alertmanager?.stop();
  await app?.close();
  await engine?.close();
  await rm(ledgers, { recursive: true, force: true });
});

/** The lines of a Markdown section, up to the next "## ". */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`## ${title}\n`);
  expect(start, `section ${title}`).toBeGreaterThanOrEqual(0);
  const end = markdown.indexOf('\n## ', start + 4);
  return markdown.slice(start, end === -1 ? undefined : end);
}

/** Markdown table cells (split on unescaped "|"), trimmed. */
const cells = (line: string): string[] => line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
const cell = (text: string, row: string): string | undefined => cells(text.split('\n').find((line) => line.startsWith(`| ${row} |`)) ?? '')[1];

describe('petcut report weekly (the built CLI, a real service)', () => {
  it('writes Markdown with each section and real numbers', async () => {
    const { code, stdout, stderr } = await cli(['--url', base, '--ledger', ledgers], { PETCUT_OPERATOR_KEY: OPERATOR_KEY });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^# petcut weekly review\n/);
    const performance = section(stdout, 'Performance');
    expect(Number(cell(performance, 'requests'))).toBeGreaterThanOrEqual(10);
    expect(cell(performance, 'photos processed')).toBe('2');
    expect(cell(performance, 'processing P95')).toMatch(/^\d+(\.\d+)? (ms|s)$/);
    expect(cell(performance, 'cold starts')).toBe('1');
    const cost = section(stdout, 'Cost');
    expect(cost).toContain('From ledgers (');
    expect(cell(cost, 'cost per 1000 images')).toMatch(/^\$\d+\.\d{2,4}$/);
    expect(cell(cost, 'photos')).toBe('2');
    const feedback = section(stdout, 'Feedback');
    expect(cell(feedback, 'ratings')).toBe('6');
    expect(cell(feedback, 'satisfied (good / all)')).toBe('83.3 %');
    expect(feedback).toMatch(/A\/B experiment pet-finding \(variants pets, all-salient\)/);
    const variants = feedback.split('\n').filter((line) => /^\| (pets|all-salient) \|/.test(line));
    expect(variants).toHaveLength(2);
    // Every session saw a cut-out; 3 of 6 added to cart, split over the variants.
    expect(variants.map((line) => Number(cells(line)[2])).reduce((a, b) => a + b, 0)).toBe(6);
    expect(variants.map((line) => Number(cells(line)[3])).reduce((a, b) => a + b, 0)).toBe(3);
    expect(cell(feedback, 'revenue impact of downtime')).toMatch(/^\$\d+\.\d{2,4} \(.* orders at \$45\.00, 300 orders\/day configured\)$/);
    const security = section(stdout, 'Security posture');
    expect(cell(security, 'refused credentials (PETCUT\\_E\\_UNAUTHORIZED)')).toBe('2');
    expect(cell(security, 'origins refused (CORS)')).toBe('0');
    const alerts = section(stdout, 'Alerts');
    expect(alerts).toContain(`Firing now, from ${alertmanager.url}`);
    const alertRow = alerts.split('\n').find((line) => line.includes('PetcutHostile'))!;
    expect(cells(alertRow)).toEqual(['PetcutHostile\\<script\\>alert(1)\\</script\\>', 'critical', expect.stringMatching(/^2\d{3}-/), '\\<img src=x onerror=alert(2)\\> \\| not a cell']);
    expect(section(stdout, 'Sources')).toMatch(/prometheus \| absent/);
  }, 90_000);

  it('writes well-formed HTML to a file with -o', async () => {
    const file = join(ledgers, 'weekly.html');
    const { code, stdout, stderr } = await cli(['--url', base, '--key', OPERATOR_KEY, '--format', 'html', '-o', file]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`${file}: the weekly review (html`);
    const html = await readFile(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<h2>Feedback</h2>');
    expectBalanced(html);
    expect(html).not.toMatch(/<script|<img/i);
    expect(html).toContain('<td>PetcutHostile&lt;script&gt;alert(1)&lt;/script&gt;</td><td>critical</td>');
    expect(html).toContain('&lt;img src=x onerror=alert(2)&gt; | not a cell');
  }, 90_000);

  it('an unreachable --url exits 2 naming the URL; a wrong key exits 2 naming the key; bad usage exits 1', async () => {
    const down = await cli(['--url', 'http://127.0.0.1:9', '--key', 'x']);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain('cannot reach the service at http://127.0.0.1:9');
    const refused = await cli(['--url', base, '--key', 'pk_not-a-key-of-this-service']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refused the operator key .*PETCUT_OPERATOR_KEY/);
    const prometheus = await cli(['--url', base, '--prometheus', 'http://127.0.0.1:9'], { PETCUT_OPERATOR_KEY: OPERATOR_KEY });
    expect(prometheus.code).toBe(2);
    expect(prometheus.stderr).toContain('Prometheus at http://127.0.0.1:9/');
    expect((await cli(['--url', base])).stderr).toMatch(/--key: give an operator key \(or set PETCUT_OPERATOR_KEY\)/);
    expect((await cli(['--url', base, '--key', 'x', '--days', 'many'])).code).toBe(1);
    expect((await cli(['--url', 'ftp://x', '--key', 'x'])).code).toBe(1);
    expect((await cli(['--url', base, '--key', 'x', '--ledger', join(ledgers, 'none')])).stderr).toContain('--ledger: nothing at');
  }, 90_000);

  it('--help has an example and the exit codes', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Examples:\n\s+PETCUT_OPERATOR_KEY=pk_\.\.\. petcut report weekly --url /);
    expect(stdout).toMatch(/Exit codes: 0 .*1 bad usage.*\n?.*2 a source could not be reached/s);
  });
});

describe('GET /v1/admin/report (the dashboard\'s copy)', () => {
  it('renders the same sections as HTML from the instance\'s own numbers, with a CSP and no script', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/admin/report?format=html', headers: OPERATOR });
    expect(response.statusCode, response.body.slice(0, 200)).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    for (const title of ['Performance', 'Cost', 'Feedback', 'Security posture', 'Alerts']) expect(response.body).toContain(`<h2>${title}</h2>`);
    expect(response.body).not.toMatch(/<script/i);
    // Its sources are the instance's own routes, read with the caller's key.
    expect(response.body).toContain('<td>service this instance /v1/admin/kpis</td><td>ok</td>');
    expect(response.body).toContain('<td>service this instance /metrics</td><td>ok</td>');
    expect(response.body).toMatch(/<td>ratings<\/td><td>6<\/td>/);
    expectBalanced(response.body);
    expect((await app.inject({ method: 'GET', url: '/v1/admin/report?format=pdf', headers: OPERATOR })).statusCode).toBe(400);
  });
});

describe('petcut report weekly --prometheus (a real Prometheus scraping the service)', () => {
  it('reads the window across instances from Prometheus: performance and security from its counters', async () => {
    const dir = join(ledgers, 'prometheus');
    const prometheus = await startPrometheus(ledgers, dir, [
      'global: { scrape_interval: 1s }',
      `scrape_configs: [{ job_name: petcut, static_configs: [{ targets: ["${new URL(base).host}"] }] }]`,
    ].join('\n'));
    try {
      const query = async (expr: string): Promise<number> => {
        const answer = await (await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as { data: { result: Array<{ value: [number, string] }> } };
        return Number(answer.data.result[0]?.value[1] ?? NaN);
      };
      // A counter series that first appears with a value has no increase yet: this one exists before the scrapes start.
      await app.inject({ method: 'GET', url: '/v1/admin/whoami', headers: { 'x-api-key': 'pk_wrong-key-for-the-report' } });
      await until(async () => (await query('petcut_images_total{outcome="success"}')) === 2 && (await query('sum(petcut_http_requests_total{code="PETCUT_E_INVALID_TOKEN"})')) >= 1, 'Prometheus scraped the service', 60_000, 500);
      // Traffic after the first scrape, so that increase() sees it: a new cut-out, two wrong keys (PETCUT_E_INVALID_TOKEN).
      const refusedBefore = (await query('sum(petcut_http_requests_total{code="PETCUT_E_INVALID_TOKEN"})')) || 0;
      const done = await app.inject({ method: 'POST', url: '/v1/cutouts?size=64', payload: form([{ data: await photo(96, 72, 'jpeg', 21) }]) });
      expect(done.statusCode).toBe(200);
      for (let i = 0; i < 2; i++) await app.inject({ method: 'GET', url: '/v1/admin/whoami', headers: { 'x-api-key': 'pk_wrong-key-for-the-report' } });
      await until(async () => (await query('petcut_images_total{outcome="success"}')) === 3 && (await query('sum(petcut_http_requests_total{code="PETCUT_E_INVALID_TOKEN"})')) >= refusedBefore + 2, 'Prometheus has the new traffic', 60_000, 500);
      await until(async () => (await query('sum(increase(petcut_images_total[7d]))')) >= 0.5, 'two samples apart', 60_000, 500);
      const { code, stdout, stderr } = await cli(['--url', base, '--prometheus', prometheus.url, '--days', '7'], { PETCUT_OPERATOR_KEY: OPERATOR_KEY });
      expect(code, stderr).toBe(0);
      expect(section(stdout, 'Sources')).toMatch(/prometheus http:\/\/127\.0\.0\.1:\d+\/ \| ok \| the last 7 days, all instances/);
      const performance = section(stdout, 'Performance');
      expect(performance).toContain('From Prometheus http://127.0.0.1:');
      // increase() extrapolates a little past the samples: about 1 photo, about 2 refusals.
      expect(Number(cell(performance, 'photos processed'))).toBeGreaterThanOrEqual(1);
      expect(Number(cell(performance, 'photos processed'))).toBeLessThanOrEqual(2);
      expect(cell(performance, 'processing P95')).toMatch(/^\d+(\.\d+)? (ms|s)$/);
      expect(cell(performance, 'cold starts')).toBe('1');
      const security = section(stdout, 'Security posture');
      expect(security).toContain('From Prometheus http://127.0.0.1:');
      expect(Number(cell(security, 'refused credentials (PETCUT\\_E\\_INVALID\\_TOKEN)'))).toBeGreaterThanOrEqual(2);
    } finally {
      prometheus.stop();
    }
  }, 180_000);
});

describe('the renderer (pure)', () => {
  const hostile = '<script>alert("x")</script> & | `md` *bold*';
  const data: WeeklyReportData = {
    title: 'petcut weekly review', generatedAt: '2026-12-02T00:00:00.000Z', window: { from: '2026-11-25T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z' },
    sources: [{ name: `service ${hostile}`, status: 'ok' }],
    performance: null, cost: null, feedback: null,
    security: { source: 'test', rateLimitRefusals: { [hostile]: 3 }, authFailures: {}, originRefusals: 1, mitigationsApplied: {} },
    alerts: { source: 'http://alertmanager:9093', firing: [{ name: hostile, severity: 'critical', startsAt: '2026-12-01T10:00:00Z', summary: hostile, labels: {} }] },
  };

  it('escapes hostile strings in HTML and Markdown, and says "no data" for absent sources', () => {
    const html = renderHtml(data);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; |');
    expectBalanced(html);
    const markdown = renderMarkdown(data);
    expect(markdown).not.toContain('<script>');
    expect(markdown).toContain('\\<script\\>');
    // A "|" in a cell cannot split the table: every row of the alerts table has its 4 cells.
    const alertRow = markdown.split('\n').find((line) => line.includes('critical'))!;
    expect(cells(alertRow)).toHaveLength(4);
    for (const title of ['Performance', 'Cost', 'Feedback']) expect(section(markdown, title)).toContain('no data');
  });
});

/** Every element that needs a closing tag is closed, in order (a small well-formedness check). */
function expectBalanced(html: string): void {
  const VOID = new Set(['meta', 'br', 'hr', 'img', 'link', 'input']);
  const stack: string[] = [];
  for (const [, closing, name] of html.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>/g)) {
    const tag = name!.toLowerCase();
    if (VOID.has(tag)) continue;
    if (closing) expect(stack.pop(), `</${tag}>`).toBe(tag);
    else stack.push(tag);
  }
  expect(stack).toEqual([]);
  expect(existsSync).toBeDefined();
}
