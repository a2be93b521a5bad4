// The Prometheus alert rules in deploy/prometheus/ (issue #6): promtool checks
// and unit-tests them, and a line-based look at the YAML makes sure every alert
// carries severity, service, summary, description and a runbook link, and has
// a promtool case where it fires and one where it must not.
// promtool comes from Debian's `prometheus` package (scripts/ensure-test-servers.sh
// installs it as root); without it these tests fail, they do not skip.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../deploy/prometheus/', import.meta.url));
const testFiles = ['alerts.test.yml', 'alerts.weekly.test.yml', 'alerts.yearly.test.yml'];
const read = (name: string): string => readFileSync(dir + name, 'utf8');

interface PromtoolResult {
  code: number | null;
  output: string;
}

// Runs promtool in deploy/prometheus/; a missing binary is an error that says how to install it.
function promtool(args: string[], timeoutMs: number): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd: dir, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('promtool not found: the alert-rule tests need it. Install Debian/Ubuntu package `prometheus` (apt-get install --no-install-recommends prometheus; `bash scripts/ensure-test-servers.sh` does it as root) or macOS `brew install prometheus`.'));
        return;
      }
      if (error && error.killed) {
        reject(new Error(`promtool ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`));
        return;
      }
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output });
    });
  });
}

interface AlertRule {
  name: string;
  group: string;
  block: string;
}

// The rule file is ours and regular: "  - name:" opens a group, "      - alert:" / "      - record:" a rule.
function parseAlerts(yaml: string): AlertRule[] {
  const alerts: AlertRule[] = [];
  let group = '';
  let current: AlertRule | undefined;
  for (const line of yaml.split('\n')) {
    const groupMatch = /^\s+- name: (\S+)/.exec(line);
    const ruleMatch = /^\s+- (alert|record): (\S+)/.exec(line);
    if (groupMatch || ruleMatch) current = undefined;
    if (groupMatch?.[1]) group = groupMatch[1];
    if (ruleMatch?.[1] === 'alert' && ruleMatch[2]) {
      current = { name: ruleMatch[2], group, block: '' };
      alerts.push(current);
    }
    if (current) current.block += `${line}\n`;
  }
  return alerts;
}

// For each alertname in a promtool test file: does some case expect it firing, and some case expect nothing?
function casesByAlert(testYaml: string): Map<string, { fires: boolean; silent: boolean }> {
  const cases = new Map<string, { fires: boolean; silent: boolean }>();
  const lines = testYaml.split('\n');
  lines.forEach((line, index) => {
    const match = /^\s+- alertname: (\S+)/.exec(line);
    if (!match?.[1]) return;
    const expLine = lines.slice(index + 1).find((next) => /^\s+exp_alerts:/.test(next)) ?? '';
    const entry = cases.get(match[1]) ?? { fires: false, silent: false };
    if (/exp_alerts:\s*\[\]/.test(expLine)) entry.silent = true;
    else entry.fires = true;
    cases.set(match[1], entry);
  });
  return cases;
}

describe('Prometheus alert rules (deploy/prometheus)', () => {
  const alerts = parseAlerts(read('alerts.yml'));

  it('promtool is installed', async () => {
    const result = await promtool(['--version'], 30_000);
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/promtool, version 2\./);
  });

  it('promtool check rules accepts alerts.yml', async () => {
    const result = await promtool(['check', 'rules', 'alerts.yml'], 60_000);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.code, result.output).toBe(0);
  });

  it('promtool test rules passes every unit test', { timeout: 600_000 }, async () => {
    // Two files in parallel: the weekly one evaluates 8 days of history.
    const results = await Promise.all(testFiles.map((file) => promtool(['test', 'rules', file], 540_000)));
    for (const result of results) {
      expect(result.output).not.toMatch(/FAILED/);
      expect(result.output).toMatch(/SUCCESS/);
      expect(result.code, result.output).toBe(0);
    }
  });

  it('has every alert of the monitoring plan, in the right group', () => {
    const expected: Record<string, string> = {
      PetcutServiceDown: 'petcut-critical',
      PetcutHighErrorRate: 'petcut-critical',
      PetcutSlowProcessing: 'petcut-critical',
      PetcutHighMemory: 'petcut-critical',
      PetcutCostSpike: 'petcut-cost',
      PetcutSpendRateHigh: 'petcut-cost',
      PetcutDailyBudget75: 'petcut-cost',
      PetcutWeeklyBudget90: 'petcut-cost',
      PetcutColdStartsBusinessHours: 'petcut-warning',
      PetcutQueueBacklog: 'petcut-warning',
      PetcutStorageErrors: 'petcut-warning',
      PetcutSharedStateDown: 'petcut-warning',
      PetcutTrafficSurge: 'petcut-warning',
      PetcutTrafficDrop: 'petcut-warning',
      PetcutRestartLoop: 'petcut-warning',
    };
    expect(Object.fromEntries(alerts.map((alert) => [alert.name, alert.group]))).toEqual(expected);
  });

  it('labels and annotates every alert, with a runbook section behind each link', () => {
    const runbook = read('RUNBOOK.md');
    for (const { name, group, block } of alerts) {
      const severity = /^\s+severity: (\S+)/m.exec(block)?.[1];
      expect(severity, name).toMatch(/^(critical|warning)$/);
      if (group === 'petcut-critical') expect(severity, name).toBe('critical');
      if (group === 'petcut-warning') expect(severity, name).toBe('warning');
      expect(block, name).toMatch(/^\s+service: petcut$/m);
      expect(block, name).toMatch(/^\s+summary: \S/m);
      expect(/^\s+description: .*\{\{ \$value/m.test(block), `${name}: description shows {{ $value }}`).toBe(true);
      const anchor = name.toLowerCase();
      expect(block, name).toContain(`runbook_url: https://github.com/petcut/petcut/blob/main/deploy/prometheus/RUNBOOK.md#${anchor}`);
      expect(runbook, `RUNBOOK.md has a "## ${name}" section`).toMatch(new RegExp(`^## ${name}$`, 'm'));
    }
  });

  it('tests every alert both firing and silent', () => {
    const cases = casesByAlert(testFiles.map(read).join('\n'));
    for (const { name } of alerts) {
      expect(cases.get(name), `${name}: a promtool case where it fires and one where it must not`).toEqual({ fires: true, silent: true });
    }
    for (const name of cases.keys()) expect(alerts.map((alert) => alert.name), `test case for unknown alert ${name}`).toContain(name);
  });

  it('uses only metrics documented in METRICS.md', () => {
    const metricsDoc = read('METRICS.md');
    const used = new Set(read('alerts.yml').split('\n').filter((line) => /^\s+expr: /.test(line)).flatMap((line) => line.match(/\bpetcut_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(5);
    for (const metric of used) {
      const base = metric.replace(/_(bucket|count|sum)$/, '');
      expect(metricsDoc, `${metric} is in METRICS.md`).toContain(`\`${base}`);
    }
  });
});
