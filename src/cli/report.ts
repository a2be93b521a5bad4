import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { CostEntry } from '../cost/meter.js';
import type { CostReport } from '../cost/report.js';
import { createPrometheusClient, PrometheusError } from '../ops/prometheus/client.js';
import { collectWeekly, REPORT_FORMATS, renderReport, ReportSourceError } from '../ops/report/index.js';
import type { ReportFormat } from '../ops/report/index.js';

/**
 * `petcut report weekly`: the plan's weekly review (performance, cost,
 * feedback, security posture) as Markdown or HTML, from a running service
 * (operator key), optionally Prometheus for the week across instances and
 * the cost ledgers (docs/kpis.md). Keys come from the environment
 * (PETCUT_OPERATOR_KEY, PETCUT_PROMETHEUS_TOKEN) rather than argv where
 * possible: argv shows in `ps` and CI logs.
 */
export interface WeeklyFlags {
  url?: string;
  key?: string;
  prometheus?: string;
  ledger?: string[];
  format: string;
  output?: string;
  days: string;
}

export const EXIT = { ok: 0, usage: 1, unreachable: 2 } as const;

class UsageError extends Error {}

const HELP = `
Examples:
  PETCUT_OPERATOR_KEY=pk_... petcut report weekly --url https://petcut.example.com -o weekly.md
  petcut report weekly --url http://localhost:8080 --prometheus http://prometheus:9090 \\
    --ledger ledgers/ --format html -o weekly.html

Sources: the service's GET /v1/admin/kpis and /metrics (operator key: --key, else PETCUT_OPERATOR_KEY);
with --prometheus the performance and security numbers are the last --days across all instances
(token: PETCUT_PROMETHEUS_TOKEN); with --ledger the cost is the ledgers' (files or folders of *.sqlite).
A section without a source says "no data".

Exit codes: 0 the report was written; 1 bad usage (a flag, a missing key, a ledger that cannot be read);
2 a source could not be reached or refused (the message names it and what to check).`;

const DAY_MS = 86_400_000;

function httpUrl(flag: string, value: string): string {
  if (!/^https?:\/\/[^/\s]+/i.test(value)) throw new UsageError(`${flag}: "${value}" must be an http:// or https:// URL`);
  return value.replace(/\/+$/, '');
}

/** The ledgers' cost report over the window (better-sqlite3 loads only when --ledger is given). */
async function ledgerReport(paths: readonly string[], from: number, to: number): Promise<{ report: CostReport; source: string }> {
  const { openLedger } = await import('../cost/ledger.js');
  const { loadPrices } = await import('../cost/prices.js');
  const { buildReport } = await import('../cost/report.js');
  const files = paths.flatMap((path) => {
    if (!existsSync(path)) throw new UsageError(`--ledger: nothing at ${path}`);
    return statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.sqlite')).map((f) => join(path, f)) : [path];
  });
  if (files.length === 0) throw new UsageError(`--ledger: no ledger files (*.sqlite) in ${paths.join(', ')}`);
  const entries = new Map<string, CostEntry>();
  for (const file of files) {
    try {
      const ledger = openLedger(file, { readonly: true });
      try {
        for (const entry of ledger.read(from, to)) entries.set(entry.id, entry);
      } finally {
        ledger.close();
      }
    } catch (error) {
      throw new UsageError(`--ledger: ${file} is not a petcut cost ledger (${(error as Error).message})`);
    }
  }
  return { report: buildReport([...entries.values()], { from, to }, loadPrices(process.env.PETCUT_COST_PRICES)), source: paths.join(', ') };
}

export async function runWeekly(flags: WeeklyFlags, env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<void> {
  if (!flags.url) throw new UsageError('--url: give the service\'s base URL (e.g. http://localhost:8080)');
  const url = httpUrl('--url', flags.url);
  const key = flags.key ?? (env.PETCUT_OPERATOR_KEY || undefined);
  if (!key) throw new UsageError('--key: give an operator key (or set PETCUT_OPERATOR_KEY): the report reads the service\'s operator routes');
  if (!(REPORT_FORMATS as readonly string[]).includes(flags.format)) throw new UsageError(`--format: md or html, not "${flags.format}"`);
  const days = Number(flags.days);
  if (!Number.isInteger(days) || days < 1 || days > 90) throw new UsageError(`--days: a whole number from 1 to 90, not "${flags.days}"`);
  const now = new Date();
  const ledger = flags.ledger?.length ? await ledgerReport(flags.ledger, now.getTime() - days * DAY_MS, now.getTime()) : undefined;
  const prometheus = flags.prometheus ? createPrometheusClient(httpUrl('--prometheus', flags.prometheus), { token: env.PETCUT_PROMETHEUS_TOKEN || undefined, timeoutMs: 15_000 }) : undefined;
  const data = await collectWeekly({
    now, days, ledger, prometheus,
    service: {
      label: url,
      get: async (path) => {
        const response = await fetch(`${url}${path}`, { headers: { 'x-api-key': key }, signal: AbortSignal.timeout(15_000) });
        return { status: response.status, text: await response.text() };
      },
    },
  });
  const text = renderReport(data, flags.format as ReportFormat);
  if (flags.output) {
    writeFileSync(flags.output, text);
    out(`${flags.output}: the weekly review (${flags.format}, ${data.sources.filter((s) => s.status === 'ok').length} sources)\n`);
  } else {
    out(text);
  }
}

export function registerReportCommand(program: Command, log: (line: string) => void): void {
  const report = program.command('report').description('reports for the operators: `weekly`, the plan\'s weekly review');
  report.command('weekly')
    .description('the weekly review (performance, cost and its opportunities, customer feedback and A/B results, security posture, alerts) as Markdown or HTML')
    .option('--url <url>', 'the service\'s base URL (required)')
    .option('--key <key>', 'an operator key (default: PETCUT_OPERATOR_KEY; prefer the variable: argv shows in ps)')
    .option('--prometheus <url>', 'Prometheus query API: the week across instances (token: PETCUT_PROMETHEUS_TOKEN)')
    .option('--ledger <file|dir...>', 'cost ledgers (files or folders of *.sqlite)')
    .addOption(new Option('--format <format>', 'md or html').choices(REPORT_FORMATS as string[]).default('md'))
    .option('-o, --output <file>', 'write the report here instead of stdout')
    .option('--days <n>', 'the window, days back from now', '7')
    .addHelpText('after', HELP)
    .action(async (flags: WeeklyFlags) => {
      try {
        await runWeekly(flags, process.env, (text) => process.stdout.write(text));
      } catch (error) {
        if (error instanceof UsageError) {
          log(`petcut report weekly: ${error.message}`);
          process.exitCode = EXIT.usage;
        } else if (error instanceof ReportSourceError || error instanceof PrometheusError) {
          log(`petcut report weekly: ${error.message}`);
          process.exitCode = EXIT.unreachable;
        } else {
          throw error;
        }
      }
    });
}
