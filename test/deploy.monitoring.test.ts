// Alert routing, dashboard and Google Cloud export of the monitoring stack (issue #6):
// - deploy/alertmanager/alertmanager.yml: amtool checks it and tests its routes
//   (critical -> PagerDuty + SMS, warning -> Slack + e-mail), and the inhibition
//   and secret rules are checked on the parsed YAML;
// - deploy/grafana/petcut-dashboard.json: the plan's KPI panels exist, every query
//   uses only metrics of deploy/prometheus/METRICS.md and parses (promtool);
// - deploy/gcp/: one Cloud Monitoring policy per alert of deploy/prometheus/alerts.yml
//   with the same expression and duration, and the GMP Rules resource with the
//   same groups; generate.mjs --check says they are not stale.
// amtool comes from Debian's `prometheus-alertmanager` package, promtool from
// `prometheus`; without them these tests fail, they do not skip.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const root = fileURLToPath(new URL('../', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const amConfig = 'deploy/alertmanager/alertmanager.yml';
const scratch = mkdtempSync(join(tmpdir(), 'petcut-monitoring-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const installHints: Record<string, string> = {
  amtool: 'amtool not found: the Alertmanager tests need it. Install Debian/Ubuntu package `prometheus-alertmanager` (apt-get install -y --no-install-recommends prometheus-alertmanager; nothing is started without systemd) or the alertmanager release tarball from prometheus.io (macOS: brew install alertmanager).',
  promtool: 'promtool not found: the PromQL checks need it. Install Debian/Ubuntu package `prometheus` (apt-get install --no-install-recommends prometheus; `bash scripts/ensure-test-servers.sh` does it as root) or macOS `brew install prometheus`.',
};

interface RunResult {
  code: number | null;
  output: string;
}

// Runs a command in the repository root; a missing amtool/promtool is an error that says how to install it.
function run(command: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(installHints[command] ?? `${command} not found`));
        return;
      }
      if (error && error.killed) {
        reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`));
        return;
      }
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output });
    });
  });
}

// promtool check rules over a list of expressions: does each parse as PromQL?
async function checkPromql(name: string, exprs: string[]): Promise<void> {
  const file = join(scratch, `${name}.rules.yml`);
  writeFileSync(file, stringify({ groups: [{ name, rules: exprs.map((expr, index) => ({ record: `check:${name}:${index}`, expr })) }] }, { lineWidth: 0 }));
  const result = await run('promtool', ['check', 'rules', file]);
  expect(result.output).toContain(`SUCCESS: ${exprs.length} rules found`);
  expect(result.code, result.output).toBe(0);
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

const ruleGroups = (parse(read('deploy/prometheus/alerts.yml')) as { groups: RuleGroup[] }).groups;
const alerts = ruleGroups.flatMap((group) => group.rules.filter((rule) => rule.alert).map((rule) => ({ ...rule, alert: rule.alert ?? '', group: group.name })));
const records = new Map(ruleGroups.flatMap((group) => group.rules.flatMap((rule) => (rule.record ? [[rule.record, rule.expr] as const] : []))));
const normalize = (expr: string): string => expr.replace(/\s+/g, ' ').trim();

// The GCP policies inline recording rules (a policy must not depend on the rule evaluator).
function inline(expr: string): string {
  return expr.replace(/\bpetcut:[a-zA-Z0-9_:]+/g, (name) => {
    const rule = records.get(name);
    if (rule === undefined) throw new Error(`unknown recording rule ${name}`);
    return `(${inline(rule)})`;
  });
}

function seconds(duration: string | undefined): string {
  if (!duration) return '0s';
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let total = 0;
  for (const match of duration.matchAll(/(\d+)([smhdw])/g)) total += Number(match[1]) * (units[match[2] ?? ''] ?? Number.NaN);
  return `${total}s`;
}

describe('Alertmanager routing (deploy/alertmanager)', () => {
  const routesTest = (labels: string[], receivers: string[]): Promise<RunResult> =>
    run('amtool', ['config', 'routes', 'test', `--config.file=${amConfig}`, `--verify.receivers=${receivers.join(',')}`, ...labels]);

  it('amtool is installed', async () => {
    const result = await run('amtool', ['--version']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/amtool, version 0\./);
  });

  it('amtool check-config accepts alertmanager.yml', async () => {
    const result = await run('amtool', ['check-config', amConfig]);
    expect(result.output).toContain('SUCCESS');
    expect(result.output).toMatch(/3 inhibit rules/);
    expect(result.output).toMatch(/5 receivers/);
    expect(result.code, result.output).toBe(0);
  });

  it('pages critical alerts to PagerDuty and the SMS-capable receiver', async () => {
    const result = await routesTest(['severity=critical', 'service=petcut', 'alertname=PetcutServiceDown'], ['pagerduty-critical', 'opsgenie-sms-critical']);
    expect(result.output).toContain('pagerduty-critical,opsgenie-sms-critical');
    expect(result.code, result.output).toBe(0);
  });

  it('sends warnings to Slack and e-mail', async () => {
    const result = await routesTest(['severity=warning', 'service=petcut', 'alertname=PetcutQueueBacklog'], ['slack-warning', 'email-warning']);
    expect(result.output).toContain('slack-warning,email-warning');
    expect(result.code, result.output).toBe(0);
  });

  it('sends the mitigation alerts to petcut\'s own receiver first, and still to people', async () => {
    const critical = await routesTest(['severity=critical', 'service=petcut', 'alertname=PetcutCostSpike'], ['petcut-mitigations', 'pagerduty-critical', 'opsgenie-sms-critical']);
    expect(critical.code, critical.output).toBe(0);
    for (const name of ['PetcutTrafficSurge', 'PetcutColdStartsBusinessHours', 'PetcutDailyBudget75', 'PetcutSpendRateHigh', 'PetcutHighMemory']) {
      const warning = await routesTest(['severity=warning', 'service=petcut', `alertname=${name}`], ['petcut-mitigations', 'slack-warning', 'email-warning']);
      expect(warning.code, `${name}: ${warning.output}`).toBe(0);
    }
    // Every name the route matches is a real alert, and alerts without a mitigation do not reach it.
    const names = /alertname=~"([^"]+)"/.exec(read(amConfig))?.[1]?.split('|') ?? [];
    expect(names).toHaveLength(6);
    for (const name of names) expect(alerts.map((alert) => alert.alert)).toContain(name);
    const other = await routesTest(['severity=warning', 'service=petcut', 'alertname=PetcutQueueBacklog'], ['slack-warning', 'email-warning']);
    expect(other.code, other.output).toBe(0);
  });

  it('the mitigation receiver hears resolutions and sends its token from a file', () => {
    const receivers = (parse(read(amConfig)) as { receivers: Array<{ name: string; webhook_configs?: Array<{ send_resolved?: boolean; url?: string; http_config?: { authorization?: { type?: string; credentials_file?: string } } }> }> }).receivers;
    const webhook = receivers.find((r) => r.name === 'petcut-mitigations')?.webhook_configs?.[0];
    expect(webhook?.send_resolved).toBe(true);
    expect(webhook?.url).toMatch(/\/v1\/admin\/alerts$/);
    expect(webhook?.http_config?.authorization).toEqual({ type: 'Bearer', credentials_file: '/etc/alertmanager/secrets/petcut-alert-webhook-token' });
  });

  it('sends alerts without a known severity to Slack, and --verify.receivers catches a wrong route', async () => {
    const fallback = await routesTest(['service=petcut', 'alertname=Something'], ['slack-warning']);
    expect(fallback.code, fallback.output).toBe(0);
    const wrong = await routesTest(['severity=warning', 'service=petcut'], ['pagerduty-critical']);
    expect(wrong.code, wrong.output).not.toBe(0);
  });

  interface InhibitRule {
    source_matchers: string[];
    target_matchers: string[];
    equal: string[];
  }
  const config = parse(read(amConfig)) as { inhibit_rules: InhibitRule[]; route: { group_by: string[] } };

  it('groups by alertname and service', () => {
    expect(config.route.group_by).toEqual(['alertname', 'service']);
  });

  it('PetcutServiceDown silences its symptoms, for the same service', () => {
    const rule = config.inhibit_rules.find((candidate) => candidate.source_matchers.includes('alertname="PetcutServiceDown"'));
    expect(rule, 'an inhibit rule with source alertname="PetcutServiceDown"').toBeDefined();
    if (!rule) return;
    expect(rule.equal).toEqual(['service']);
    const target = /^alertname=~"(.+)"$/.exec(rule.target_matchers[0] ?? '')?.[1] ?? '';
    const muted = new RegExp(`^(?:${target})$`);
    const symptoms = ['PetcutHighErrorRate', 'PetcutSlowProcessing', 'PetcutHighMemory', 'PetcutQueueBacklog', 'PetcutColdStartsBusinessHours', 'PetcutTrafficDrop'];
    for (const name of symptoms) expect(muted.test(name), `${name} is muted by PetcutServiceDown`).toBe(true);
    expect(muted.test('PetcutServiceDown')).toBe(false);
    expect(muted.test('PetcutCostSpike')).toBe(false);
    // Every name in the matcher is a real alert (catches renames in alerts.yml).
    for (const name of target.split('|')) expect(alerts.map((alert) => alert.alert)).toContain(name);
    expect(alerts.map((alert) => alert.alert)).toContain('PetcutServiceDown');
  });

  it('a critical alert silences the warning of the same alertname and service', () => {
    const rule = config.inhibit_rules.find((candidate) => candidate.source_matchers.includes('severity="critical"'));
    expect(rule?.target_matchers).toEqual(['severity="warning"']);
    expect(rule?.equal).toEqual(['alertname', 'service']);
  });

  it('keeps secrets out of the file: only *_file fields, each with an example', () => {
    const text = read(amConfig);
    expect(text).not.toMatch(/^\s*(routing_key|service_key|api_key|api_url|slack_api_url|opsgenie_api_key|smtp_auth_password|auth_password):/m);
    const files = [...text.matchAll(/_file: (\S+)/g)].map((match) => match[1] ?? '');
    expect(files.length).toBe(5);
    for (const file of files) {
      expect(file).toMatch(/^\/etc\/alertmanager\/secrets\/[a-z-]+$/);
      expect(() => read(`deploy/alertmanager/secrets/${file.split('/').pop() ?? ''}.example`), `${file} has an example`).not.toThrow();
    }
  });
});

interface Target {
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string }[] };
}

describe('Grafana dashboard (deploy/grafana/petcut-dashboard.json)', () => {
  const dashboard = JSON.parse(read('deploy/grafana/petcut-dashboard.json')) as Dashboard;
  const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
  const exprs = queryPanels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

  it('is a current dashboard with a Prometheus data-source variable used by every query', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('petcut-overview');
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', query: 'prometheus' }));
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    for (const panel of queryPanels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
    }
  });

  it("has the plan's KPI panels", () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    const kpis = [
      'Requests per minute',
      'Processing time (p50 / p95 / p99 / average)',
      'Success rate',
      'Cold starts per hour',
      'Memory usage vs limit',
      'GPU utilisation',
      'GPU memory used',
      'Queue depth',
      'Rate-limit rejections per minute',
      'Cost per 1000 images',
      'Daily spend vs $200 budget',
      'Weekly spend vs $1,200 budget',
      'Monthly spend vs $5,000 budget',
      'Budget burn rate',
    ];
    for (const kpi of kpis) expect(titles, kpi).toContain(kpi);
    const byTitle = (title: string): Panel | undefined => dashboard.panels.find((panel) => panel.title === title);
    const processing = byTitle('Processing time (p50 / p95 / p99 / average)')?.targets?.map((target) => target.expr) ?? [];
    for (const q of ['0.50', '0.95', '0.99']) expect(processing).toContainEqual(expect.stringContaining(`histogram_quantile(${q}, sum by (le) (rate(petcut_processing_duration_seconds_bucket[`));
    expect(exprs).toContain('sum(increase(petcut_cost_usd_total[1d])) / sum(increase(petcut_images_total{outcome="success"}[1d])) * 1000');
    for (const title of ['GPU utilisation', 'GPU memory used']) expect(byTitle(title)?.description, title).toMatch(/No data without a GPU/);
  });

  it('uses only metrics of the contract (METRICS.md plus the GPU gauges)', () => {
    const contract = new Set([...read('deploy/prometheus/METRICS.md').matchAll(/`(petcut_[a-z_]+)/g)].map((match) => match[1] ?? ''));
    contract.add('petcut_gpu_utilization_ratio');
    contract.add('petcut_gpu_memory_used_bytes');
    const used = new Set(exprs.flatMap((expr) => expr.match(/\bpetcut_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    for (const metric of used) expect(contract, `${metric} is in the metric contract`).toContain(metric.replace(/_(bucket|count|sum)$/, ''));
    // Raw metrics only: the dashboard works without the recording rules.
    for (const expr of exprs) expect(expr).not.toMatch(/petcut:/);
  });

  it('every query is valid PromQL (promtool, Grafana variables substituted)', async () => {
    await checkPromql('dashboard', exprs.map((expr) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '6h')));
  });
});

interface Policy {
  displayName: string;
  documentation: { content: string };
  severity: string;
  notificationChannels: string[];
  conditions: {
    displayName: string;
    conditionPrometheusQueryLanguage: { query: string; duration: string; evaluationInterval: string; labels: Record<string, string>; alertRule: string; ruleGroup: string };
  }[];
}

describe('Google Cloud export (deploy/gcp)', () => {
  const policy = (name: string): Policy => JSON.parse(read(`deploy/gcp/policies/${name}.json`)) as Policy;

  it('has a policy for every alert, with the same expression, duration and labels', () => {
    expect(alerts.length).toBeGreaterThan(5);
    for (const alert of alerts) {
      const { conditions, documentation, severity, notificationChannels } = policy(alert.alert);
      expect(conditions.length, alert.alert).toBe(1);
      const condition = conditions[0]?.conditionPrometheusQueryLanguage;
      expect(normalize(condition?.query ?? ''), alert.alert).toBe(normalize(inline(alert.expr)));
      expect(condition?.query, `${alert.alert}: recording rules inlined`).not.toMatch(/petcut:/);
      expect(documentation.content, alert.alert).toContain(alert.expr);
      expect(condition?.duration, alert.alert).toBe(seconds(alert.for));
      expect(condition?.labels, alert.alert).toEqual(alert.labels);
      expect(condition?.alertRule).toBe(alert.alert);
      expect(condition?.ruleGroup).toBe(alert.group);
      expect(severity).toBe(alert.labels?.severity?.toUpperCase());
      const expected = alert.labels?.severity === 'critical' ? ['PAGERDUTY', 'SMS'] : ['SLACK', 'EMAIL'];
      expect(notificationChannels, alert.alert).toEqual(expected.map((kind) => `projects/PROJECT_ID/notificationChannels/${kind}_CHANNEL_ID`));
    }
  });

  it('every policy query is valid PromQL (promtool)', async () => {
    await checkPromql('gcp', alerts.map((alert) => policy(alert.alert).conditions[0]?.conditionPrometheusQueryLanguage.query ?? ''));
  });

  it('rules.yaml is a GMP Rules resource with the same groups, valid for promtool', async () => {
    const resource = parse(read('deploy/gcp/rules.yaml')) as { apiVersion: string; kind: string; spec: { groups: RuleGroup[] } };
    expect(resource.apiVersion).toBe('monitoring.googleapis.com/v1');
    expect(resource.kind).toBe('Rules');
    expect(resource.spec.groups.map(({ name, rules }) => ({ name, rules }))).toEqual(ruleGroups.map(({ name, rules }) => ({ name, rules })));
    const file = join(scratch, 'gmp-groups.yml');
    writeFileSync(file, stringify({ groups: resource.spec.groups }, { lineWidth: 0 }));
    const result = await run('promtool', ['check', 'rules', file]);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.code, result.output).toBe(0);
  });

  it('generate.mjs --check: policies and rules.yaml are up to date with alerts.yml', async () => {
    const result = await run(process.execPath, ['deploy/gcp/generate.mjs', '--check']);
    expect(result.code, result.output).toBe(0);
  });
});
