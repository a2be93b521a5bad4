#!/usr/bin/env node
// Generates the Google Cloud exports of deploy/prometheus/alerts.yml (issue #6):
//   deploy/gcp/policies/<Alert>.json  one Cloud Monitoring alert policy per alert,
//                                     PromQL condition (conditionPrometheusQueryLanguage)
//   deploy/gcp/rules.yaml             the same rule groups as a Managed Service for
//                                     Prometheus `Rules` custom resource
// Usage:
//   node deploy/gcp/generate.mjs            rewrite the files (placeholders for project and channels)
//   node deploy/gcp/generate.mjs --check    exit 1 if the committed files are stale
//   GCP_PROJECT=my-proj PETCUT_CHANNEL_PAGERDUTY=123 PETCUT_CHANNEL_SMS=456 \
//   PETCUT_CHANNEL_SLACK=789 PETCUT_CHANNEL_EMAIL=012 \
//     node deploy/gcp/generate.mjs --out /tmp/petcut-policies   policies ready for gcloud
// Policies are self-contained: the recording rules an alert uses (petcut:...) are
// inlined into its query, so they work without the rule evaluator. See README.md.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const here = fileURLToPath(new URL('.', import.meta.url));
const alertsFile = fileURLToPath(new URL('../prometheus/alerts.yml', import.meta.url));
const args = process.argv.slice(2);
const check = args.includes('--check');
const outIndex = args.indexOf('--out');
const outDir = outIndex >= 0 ? args[outIndex + 1] : `${here}policies`;
// --check compares against the committed (placeholder) files, whatever the environment says.
const env = check ? {} : process.env;
const project = env.GCP_PROJECT || 'PROJECT_ID';
const channel = (name, placeholder) => `projects/${project}/notificationChannels/${env[name] || placeholder}`;
// Plan, section 4: critical -> PagerDuty + SMS, warning -> Slack + e-mail.
const channels = {
  critical: [channel('PETCUT_CHANNEL_PAGERDUTY', 'PAGERDUTY_CHANNEL_ID'), channel('PETCUT_CHANNEL_SMS', 'SMS_CHANNEL_ID')],
  warning: [channel('PETCUT_CHANNEL_SLACK', 'SLACK_CHANNEL_ID'), channel('PETCUT_CHANNEL_EMAIL', 'EMAIL_CHANNEL_ID')],
};
const EVALUATION_INTERVAL = '60s';

// Prometheus duration ("2m", "1h30m", "90s") -> protobuf Duration ("120s", "5400s", "90s").
export function toSeconds(duration) {
  if (!duration) return '0s';
  const units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  const rest = String(duration).replace(/(\d+)(ms|s|m|h|d|w|y)/g, (_, n, unit) => {
    total += Number(n) * units[unit];
    return '';
  });
  if (rest !== '') throw new Error(`bad duration ${duration}`);
  return `${total}s`;
}

// Replaces every recording-rule name (level:metric:operation) by its expression in parentheses, recursively.
export function inline(expr, records) {
  return expr.replace(/\bpetcut:[a-zA-Z0-9_:]+/g, (name) => {
    const rule = records.get(name);
    if (rule === undefined) throw new Error(`unknown recording rule ${name}`);
    return `(${inline(rule, records)})`;
  });
}

// Prometheus templates in summaries -> Cloud Monitoring documentation variables.
const toDocVariables = (text) => text.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, '$${metric_or_resource.labels.$1}');

const source = parse(readFileSync(alertsFile, 'utf8'));
const records = new Map();
for (const group of source.groups) for (const rule of group.rules) if (rule.record) records.set(rule.record, rule.expr);

const policies = new Map();
for (const group of source.groups) {
  for (const rule of group.rules) {
    if (!rule.alert) continue;
    const severity = rule.labels.severity;
    if (!channels[severity]) throw new Error(`${rule.alert}: severity ${severity} has no channels`);
    const duration = toSeconds(rule.for);
    const policy = {
      displayName: `petcut: ${rule.alert} (${severity})`,
      documentation: {
        subject: `[petcut ${severity}] ${toDocVariables(rule.annotations.summary)}`,
        mimeType: 'text/markdown',
        content: [
          `**${toDocVariables(rule.annotations.summary)}**`,
          `Fires when this PromQL has been true for ${rule.for ?? '0s'} (deploy/prometheus/alerts.yml, group \`${group.name}\`; recording rules are inlined in the condition):`,
          '```\n' + rule.expr + '\n```',
          `Runbook: ${rule.annotations.runbook_url}`,
        ].join('\n\n'),
      },
      userLabels: { service: rule.labels.service, severity },
      severity: severity.toUpperCase(),
      combiner: 'OR',
      conditions: [
        {
          displayName: rule.alert,
          conditionPrometheusQueryLanguage: {
            query: inline(rule.expr, records),
            duration,
            evaluationInterval: EVALUATION_INTERVAL,
            labels: { ...rule.labels },
            ruleGroup: group.name,
            alertRule: rule.alert,
            // The service may not have exported a metric yet when the policy is created.
            disableMetricValidation: true,
          },
        },
      ],
      alertStrategy: { autoClose: '1800s' },
      notificationChannels: channels[severity],
      enabled: true,
    };
    policies.set(`${rule.alert}.json`, `${JSON.stringify(policy, null, 2)}\n`);
  }
}

// GMP Rules custom resource: the same groups, evaluated by the managed rule evaluator.
const rulesCr =
  '# Generated by deploy/gcp/generate.mjs from deploy/prometheus/alerts.yml: do not edit.\n' +
  '# Google Cloud Managed Service for Prometheus rules (kubectl apply -f deploy/gcp/rules.yaml).\n' +
  '# Rules are namespace-scoped: their queries see only metrics from the namespace `petcut`\n' +
  '# of this cluster. For petcut on Cloud Run use kind: GlobalRules (see README.md).\n' +
  stringify(
    {
      apiVersion: 'monitoring.googleapis.com/v1',
      kind: 'Rules',
      metadata: { name: 'petcut-rules', namespace: 'petcut', labels: { 'app.kubernetes.io/name': 'petcut' } },
      spec: { groups: source.groups.map((group) => ({ name: group.name, interval: EVALUATION_INTERVAL, rules: group.rules })) },
    },
    { lineWidth: 0 },
  );

if (check) {
  const stale = [];
  const existing = new Set(readdirSync(outDir).filter((name) => name.endsWith('.json')));
  for (const [name, text] of policies) {
    let current = '';
    try {
      current = readFileSync(`${outDir}/${name}`, 'utf8');
    } catch {
      // missing: stale
    }
    if (current !== text) stale.push(`policies/${name}`);
    existing.delete(name);
  }
  for (const name of existing) stale.push(`policies/${name} (no such alert)`);
  if (readFileSync(`${here}rules.yaml`, 'utf8') !== rulesCr) stale.push('rules.yaml');
  if (stale.length > 0) {
    console.error(`deploy/gcp is stale, run \`node deploy/gcp/generate.mjs\`: ${stale.join(', ')}`);
    process.exit(1);
  }
  console.log(`deploy/gcp is up to date: ${policies.size} policies, rules.yaml`);
} else {
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of policies) writeFileSync(`${outDir}/${name}`, text);
  if (outIndex < 0) writeFileSync(`${here}rules.yaml`, rulesCr);
  console.log(`wrote ${policies.size} policies to ${outDir}${outIndex < 0 ? ' and rules.yaml' : ''}`);
}
