// Sloth-style Prometheus rules for each SLO: SLI error ratios over every alert
// window, metadata (objective, budget, burn rates) for dashboards, and the
// multi-window multi-burn-rate page and ticket alerts (burnRates.ts).
import { BURN_ALERTS, budgetSpent, SLI_WINDOWS } from './burnRates.js';
import type { BurnAlert } from './burnRates.js';
import { describeCondition, errorRatio, timeConditionExpr } from './promql.js';
import type { Slo, SloFile } from './schema.js';

export interface RecordingRule {
  record: string;
  expr: string;
  labels: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Array<RecordingRule | AlertingRule>;
}

// Floating point: 1 - 0.995 is 0.0050000000000000044; ten decimals is plenty for a ratio.
const tidy = (value: number): number => Number(value.toFixed(10));
const percent = (ratio: number): string => `${Number((ratio * 100).toPrecision(4))} %`;
export const errorBudget = (slo: Slo): number => tidy(1 - slo.objective / 100);

function selector(file: SloFile, slo: Slo): string {
  return `{service="${file.service}",slo="${slo.name}"}`;
}

function sliRecordings(file: SloFile, slo: Slo): RuleGroup {
  const labels = { service: file.service, slo: slo.name };
  const rules: RecordingRule[] = SLI_WINDOWS.map((window) => ({ record: `slo:sli_error:ratio_rate${window}`, expr: errorRatio(slo.sli, window), labels }));
  // The period's ratio is the mean of the 5m ratios (as Sloth does): a 30-day rate() over raw counters is too heavy to evaluate every minute.
  const period = `${file.time_period_days}d`;
  rules.push({ record: `slo:sli_error:ratio_rate${period}`, expr: `avg_over_time(slo:sli_error:ratio_rate5m${selector(file, slo)}[${period}])`, labels });
  return { name: `slo-sli-recordings-${slo.name}`, rules };
}

function metaRecordings(file: SloFile, slo: Slo): RuleGroup {
  const labels = { service: file.service, slo: slo.name };
  const sel = selector(file, slo);
  const budget = errorBudget(slo);
  const rules: RecordingRule[] = [
    { record: 'slo:objective:ratio', expr: `vector(${tidy(slo.objective / 100)})`, labels },
    { record: 'slo:error_budget:ratio', expr: `vector(${budget})`, labels },
    { record: 'slo:time_period:days', expr: `vector(${file.time_period_days})`, labels },
    { record: 'slo:current_burn_rate:ratio', expr: `slo:sli_error:ratio_rate5m${sel} / ${budget}`, labels },
    { record: 'slo:period_burn_rate:ratio', expr: `slo:sli_error:ratio_rate${file.time_period_days}d${sel} / ${budget}`, labels },
    { record: 'slo:period_error_budget_remaining:ratio', expr: `1 - slo:period_burn_rate:ratio${sel}`, labels },
  ];
  return { name: `slo-meta-recordings-${slo.name}`, rules };
}

function burnExpr(file: SloFile, slo: Slo, alert: BurnAlert): string {
  const sel = selector(file, slo);
  const budget = errorBudget(slo);
  const pairs = alert.windows.map(({ factor, long, short }) => {
    const threshold = `(${factor} * ${budget})`;
    return `(\n  slo:sli_error:ratio_rate${long}${sel} > ${threshold}\n  and\n  slo:sli_error:ratio_rate${short}${sel} > ${threshold}\n)`;
  });
  const burning = pairs.join('\nor\n');
  // Time-conditioned SLOs alert only while their objective holds.
  if (!slo.when) return burning;
  const indented = burning.split('\n').map((line) => `  ${line}`).join('\n');
  return `(\n${indented}\n)\nand on()\n${timeConditionExpr(slo.when)}`;
}

function describeBurn(file: SloFile, slo: Slo, alert: BurnAlert): string {
  const budget = errorBudget(slo);
  const windows = alert.windows.map((pair) => `above ${percent(pair.factor * budget)} (${pair.factor}x) over ${pair.long} and ${pair.short}`);
  const [first] = alert.windows;
  const lasts = first ? ` At ${first.factor}x the ${file.time_period_days}-day budget lasts ${Number((file.time_period_days / first.factor).toFixed(1))} days (${percent(budgetSpent(first, file.time_period_days))} of it per ${first.long}).` : '';
  const when = slo.when ? ` The objective holds ${describeCondition(slo.when)}.` : '';
  return `${slo.description} The error ratio is ${windows.join(', or ')}; the error budget is ${percent(budget)}.${lasts}${when}`;
}

function burnAlerts(file: SloFile, slo: Slo): RuleGroup {
  const rules: AlertingRule[] = [];
  for (const alert of BURN_ALERTS) {
    const wanted = slo.alerting[alert.kind];
    if (wanted === undefined) continue;
    rules.push({
      alert: `${slo.alerting.name}${alert.suffix}`,
      expr: burnExpr(file, slo, alert),
      labels: { ...wanted?.labels, severity: alert.severity },
      annotations: {
        summary: `${file.service} ${slo.name} SLO (${slo.objective} %): error budget burn (${alert.kind})`,
        description: describeBurn(file, slo, alert),
        runbook_url: `${file.runbook_url}#${slo.name}`,
      },
    });
  }
  return { name: `slo-alerts-${slo.name}`, rules };
}

/** All rule groups for the SLO file: three per SLO, in file order. */
export function generateRules(file: SloFile): { groups: RuleGroup[] } {
  return { groups: file.objectives.flatMap((slo) => [sliRecordings(file, slo), metaRecordings(file, slo), burnAlerts(file, slo)]) };
}
