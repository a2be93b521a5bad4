// SLO burn-rate rules (issue #6): the SLO file's validation names the field,
// the generated rules carry the SRE-workbook burn factors and windows, the
// committed rule file is current, and promtool accepts and unit-tests it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { DURATION_BUCKETS } from '../src/observability/metrics.js';
import { sloRulesText } from '../src/slo/command.js';
import { parseSloFile } from '../src/slo/load.js';
import { generateRules } from '../src/slo/rules.js';
import type { AlertingRule, RecordingRule } from '../src/slo/rules.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const sloPath = 'deploy/slo/petcut.slo.yml';
const rulesPath = 'deploy/prometheus/slo.rules.yml';
const run = promisify(execFile);

const sloText = await readFile(join(root, sloPath), 'utf8');
const sloFile = parseSloFile(sloText, sloPath);
const rules = generateRules(sloFile).groups.flatMap((group) => group.rules);
const alerts = rules.filter((rule): rule is AlertingRule => 'alert' in rule);
const records = rules.filter((rule): rule is RecordingRule => 'record' in rule);

// The committed SLO file with one change made by `edit`, as text, parsed again.
function parseEdited(edit: (file: Record<string, unknown> & { objectives: Array<Record<string, unknown>> }) => void): () => unknown {
  const file = parse(sloText) as Record<string, unknown> & { objectives: Array<Record<string, unknown>> };
  edit(file);
  return () => parseSloFile(stringify(file), 'bad.slo.yml');
}

const objective = (file: { objectives: Array<Record<string, unknown>> }, index: number): Record<string, unknown> => {
  const found = file.objectives[index];
  if (!found) throw new Error(`no objective ${index}`);
  return found;
};

describe('SLO file validation names the field', () => {
  it.each([
    ['an objective above 100', (f) => { objective(f, 2).objective = 101; }, 'bad.slo.yml: objectives[2].objective: must be between 0 and 100'],
    ['an objective given as text', (f) => { objective(f, 0).objective = '99.5%'; }, 'objectives[0].objective: must be a percentage'],
    ['a misspelt field', (f) => { const o = objective(f, 1); o.objetive = o.objective; delete o.objective; }, 'objectives[1].objetive: unknown field'],
    ['a missing field', (f) => { delete objective(f, 1).description; }, 'objectives[1].description: is required'],
    ['an unknown SLI kind', (f) => { objective(f, 0).sli = { kind: 'histogram' }; }, 'objectives[0].sli'],
    ['a selector with rate() in it', (f) => { (objective(f, 0).sli as Record<string, unknown>).errors = 'rate(x[5m])'; }, 'objectives[0].sli.errors: must be a counter selector'],
    ['a latency threshold with a unit', (f) => { (objective(f, 3).sli as Record<string, unknown>).threshold = '5s'; }, 'objectives[3].sli.threshold: must be a number of seconds'],
    ['a raw SLI without {{.window}}', (f) => { objective(f, 0).sli = { kind: 'raw', error_query: 'sum(rate(a[5m]))', total_query: 'sum(rate(b[{{.window}}]))' }; }, 'objectives[0].sli.error_query: must contain {{.window}}'],
    ['an hour past midnight', (f) => { objective(f, 1).when = { utc_offset_hours: -5, hours: { from: 25, to: 2 } }; }, 'objectives[1].when.hours.from: must be between 0 and 23'],
    ['a date in the wrong format', (f) => { objective(f, 2).when = { utc_offset_hours: -5, dates: { from: '11/15', to: '01-05' } }; }, 'objectives[2].when.dates.from: must be "MM-DD"'],
    ['a time condition with no times', (f) => { objective(f, 2).when = { utc_offset_hours: -5 }; }, 'objectives[2].when: needs hours, dates or both'],
    ['no page and no ticket', (f) => { objective(f, 4).alerting = { name: 'PetcutX' }; }, 'objectives[4].alerting: needs page, ticket or both'],
    ['a name used twice', (f) => { objective(f, 1).name = 'availability'; }, 'objectives[1].name: "availability" is used twice'],
    ['a budget the page burn rate cannot reach', (f) => { objective(f, 0).objective = 90; }, 'objectives[0].objective: 90 leaves an error budget the 14.4x page burn rate cannot reach'],
    ['a wrong version', (f) => { f.version = 2; }, 'version: must be 1'],
    ['no objectives', (f) => { f.objectives = []; }, 'objectives: needs at least one objective'],
  ] as Array<[string, Parameters<typeof parseEdited>[0], string]>)('%s', (_name, edit, message) => {
    expect(parseEdited(edit)).toThrow(message);
  });

  it('reports YAML syntax errors with the line', () => {
    expect(() => parseSloFile('version: 1\nobjectives: [\n', 'bad.slo.yml')).toThrow(/^bad\.slo\.yml:\d+:\d+: not valid YAML/);
  });
});

describe('generated rules', () => {
  it('records the SLI error ratio over every alert window, and the objective and budget, per SLO', () => {
    const names = sloFile.objectives.map((slo) => slo.name);
    expect(names).toEqual(['availability', 'availability-peak-hours', 'availability-holiday-season', 'warm-latency', 'cold-start-latency']);
    for (const name of names) {
      const mine = records.filter((rule) => rule.labels.slo === name);
      expect(mine.every((rule) => rule.labels.service === 'petcut')).toBe(true);
      for (const window of ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']) expect(mine.map((rule) => rule.record)).toContain(`slo:sli_error:ratio_rate${window}`);
      expect(mine.map((rule) => rule.record)).toEqual(expect.arrayContaining(['slo:objective:ratio', 'slo:error_budget:ratio', 'slo:current_burn_rate:ratio', 'slo:period_error_budget_remaining:ratio']));
    }
    const objectiveOf = (slo: string): string | undefined => records.find((rule) => rule.record === 'slo:objective:ratio' && rule.labels.slo === slo)?.expr;
    expect(objectiveOf('availability')).toBe('vector(0.995)');
    expect(objectiveOf('availability-peak-hours')).toBe('vector(0.999)');
    expect(objectiveOf('availability-holiday-season')).toBe('vector(0.9995)');
    expect(objectiveOf('warm-latency')).toBe('vector(0.95)');
    expect(objectiveOf('cold-start-latency')).toBe('vector(0.99)');
    expect(records.find((rule) => rule.record === 'slo:error_budget:ratio' && rule.labels.slo === 'availability')?.expr).toBe('vector(0.005)');
  });

  it('availability counts 5xx only, over every route but the health probes', () => {
    const sli = records.find((rule) => rule.record === 'slo:sli_error:ratio_rate5m' && rule.labels.slo === 'availability')?.expr ?? '';
    expect(sli).toContain('petcut_http_requests_total{route!~"/healthz|/readyz",status=~"5.."}[5m]');
    expect(sli).toContain('0 * sum(rate(petcut_http_requests_total{route!~"/healthz|/readyz"}[5m]))');
  });

  it('latency SLIs read a real bucket boundary of the histogram', () => {
    for (const slo of sloFile.objectives) {
      if (slo.sli.kind === 'latency') expect(DURATION_BUCKETS, slo.name).toContain(slo.sli.threshold);
    }
    const warm = records.find((rule) => rule.record === 'slo:sli_error:ratio_rate1h' && rule.labels.slo === 'warm-latency')?.expr ?? '';
    expect(warm).toContain('petcut_processing_duration_seconds_bucket{cold="false",le="5"}[1h]');
    const cold = records.find((rule) => rule.record === 'slo:sli_error:ratio_rate1h' && rule.labels.slo === 'cold-start-latency')?.expr ?? '';
    expect(cold).toContain('petcut_processing_duration_seconds_bucket{cold="true",le="35"}[1h]');
  });

  it('pages on 14.4x over 1h+5m or 6x over 6h+30m, tickets on 3x over 1d+2h or 1x over 3d+6h', () => {
    const page = alerts.find((rule) => rule.alert === 'PetcutAvailabilityBudgetBurnPage');
    const ticket = alerts.find((rule) => rule.alert === 'PetcutAvailabilityBudgetBurnTicket');
    expect(page?.labels.severity).toBe('critical');
    expect(ticket?.labels.severity).toBe('warning');
    for (const [window, factor] of [['1h', '14.4'], ['5m', '14.4'], ['6h', '6'], ['30m', '6']]) {
      expect(page?.expr).toContain(`slo:sli_error:ratio_rate${window}{service="petcut",slo="availability"} > (${factor} * 0.005)`);
    }
    for (const [window, factor] of [['1d', '3'], ['2h', '3'], ['3d', '1'], ['6h', '1']]) {
      expect(ticket?.expr).toContain(`slo:sli_error:ratio_rate${window}{service="petcut",slo="availability"} > (${factor} * 0.005)`);
    }
    expect(alerts.find((rule) => rule.alert === 'PetcutHolidayAvailabilityBudgetBurnPage')?.expr).toContain('> (14.4 * 0.0005)');
  });

  it('has exactly the alerts the SLO file asks for, each with a runbook link', () => {
    expect(alerts.map((rule) => rule.alert).sort()).toEqual([
      'PetcutAvailabilityBudgetBurnPage', 'PetcutAvailabilityBudgetBurnTicket', 'PetcutColdStartLatencyBudgetBurnTicket',
      'PetcutHolidayAvailabilityBudgetBurnPage', 'PetcutHolidayAvailabilityBudgetBurnTicket', 'PetcutPeakHoursAvailabilityBudgetBurnPage',
      'PetcutWarmLatencyBudgetBurnPage', 'PetcutWarmLatencyBudgetBurnTicket',
    ]);
    for (const rule of alerts) expect(rule.annotations.runbook_url).toMatch(/docs\/slo\.md#[a-z-]+$/);
  });

  it('gates time-conditioned SLOs on local time (UTC-5)', () => {
    const peak = alerts.find((rule) => rule.alert === 'PetcutPeakHoursAvailabilityBudgetBurnPage')?.expr ?? '';
    expect(peak).toMatch(/and on\(\)\n\(\n {2}hour\(vector\(time\(\) - 18000\)\) >= 18\n {2}and\n {2}hour\(vector\(time\(\) - 18000\)\) < 22\n\)$/);
    const holiday = alerts.find((rule) => rule.alert === 'PetcutHolidayAvailabilityBudgetBurnTicket')?.expr ?? '';
    expect(holiday).toContain('>= 1115\n  or\n');
    expect(holiday).toContain('<= 105\n)');
    expect(alerts.find((rule) => rule.alert === 'PetcutAvailabilityBudgetBurnPage')?.expr).not.toContain('time()');
  });
});

describe('the committed rule file', () => {
  it('is what petcut slo generates from the SLO file', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(await sloRulesText(sloPath)).toBe(await readFile(join(root, rulesPath), 'utf8'));
    } finally {
      process.chdir(cwd);
    }
  });

  it('petcut slo --check passes, fails on a stale file, and a bad SLO file fails naming the field', async () => {
    const cli = join(root, 'dist/cli/index.js');
    const ok = await run(process.execPath, [cli, 'slo', '--check'], { cwd: root });
    expect(ok.stderr).toContain('is up to date');
    const bad = join(await mkdtemp(join(tmpdir(), 'petcut-slo-')), 'bad.slo.yml');
    await writeFile(bad, sloText.replace('objective: 99.5', 'objective: 150'));
    const failed = await run(process.execPath, [cli, 'slo', bad], { cwd: root }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/^petcut: .*bad\.slo\.yml: objectives\[0\]\.objective: must be between 0 and 100/);
    const stale = join(tmpdir(), `petcut-slo-stale-${process.pid}.yml`);
    await writeFile(stale, (await readFile(join(root, rulesPath), 'utf8')).replace('vector(0.995)', 'vector(0.99)'));
    const staleRun = await run(process.execPath, [cli, 'slo', '--check', '-o', stale], { cwd: root }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(staleRun?.code).toBe(1);
    expect(staleRun?.stderr).toContain('is out of date with deploy/slo/petcut.slo.yml');
  });
});

describe('promtool', () => {
  async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
    try {
      const { stdout, stderr } = await run('promtool', args, { cwd: root, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, output: stdout + stderr };
    } catch (error) {
      const failed = error as { code: number | string; stdout?: string; stderr?: string };
      if (failed.code === 'ENOENT') throw new Error('promtool not found: the SLO rule tests need it. Install Debian/Ubuntu package `prometheus` (apt-get install --no-install-recommends prometheus) or macOS `brew install prometheus`.');
      return { code: typeof failed.code === 'number' ? failed.code : 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
    }
  }

  it('check rules accepts the generated file', async () => {
    const result = await promtool('check', 'rules', rulesPath);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('test rules passes every case, and every alert has a case where it fires and one where it must not', { timeout: 300_000 }, async () => {
    const tests = await readFile(join(root, 'deploy/prometheus/slo.test.yml'), 'utf8');
    for (const rule of alerts) {
      const cases = tests.split(`- alertname: ${rule.alert}\n`).slice(1).map((rest) => /exp_alerts:(.*)/.exec(rest)?.[1]?.trim());
      expect(cases, `${rule.alert} fires somewhere`).toContain('');
      expect(cases, `${rule.alert} stays silent somewhere`).toContain('[]');
    }
    const result = await promtool('test', 'rules', 'deploy/prometheus/slo.test.yml');
    expect(result.output).not.toMatch(/FAILED/);
    expect(result.code, result.output).toBe(0);
  });
});
