import { writeFile } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import { CHECK_IDS, DEFAULT_SLO_FILE, SMOKE_STEP_IDS, UnreachableError, formatReport, formatSmokeReport, loadThresholds, runSmoke, runValidation } from '../ops/index.js';
import type { CheckId, SmokeOptions, ValidateOptions } from '../ops/index.js';

/**
 * `petcut validate <url>`: the staging checklist, scored (docs/validate.md).
 * Exit codes: 0 every check that ran passed; 1 a check failed; 2 bad usage
 * (the message names the flag); 3 the target did not answer /healthz.
 * Credentials come from the environment only (PETCUT_VALIDATE_OPERATOR_KEY,
 * PETCUT_VALIDATE_TOKEN): argv shows in `ps` and CI logs, so no flag takes them.
 * `--smoke` runs the quick subset instead (readiness, a cut-out, effects,
 * storage, metrics), with the same credentials and exit codes.
 */
export interface ValidateFlags {
  only?: string;
  skip?: string;
  samples: string;
  size: 'full' | 'preview';
  concurrency: string;
  scale: string;
  pressure: string;
  cold?: string;
  coldRuns: string;
  memoryLimitMb?: string;
  shop: string;
  storefrontOrigin?: string;
  wsSeconds: string;
  photos?: string;
  slo: string;
  timeoutS: string;
  json?: string;
  smoke?: boolean;
  expectRevision?: string;
  readyTimeout?: string;
}

export const EXIT = { pass: 0, fail: 1, usage: 2, unreachable: 3 } as const;

class UsageError extends Error {}

/** --ready-timeout's default: the model loads in seconds, a first start builds its cache (~6 s), Cloud Run adds its own start. */
const READY_TIMEOUT_S = 120;

const HELP = `
Examples:
  petcut validate https://petcut-staging-xxxx.a.run.app --shop perkieprints --storefront-origin https://perkieprints.com \\
    --memory-limit-mb 16384 --json validate.json
  petcut validate http://127.0.0.1:8080 --size preview --samples 3 --scale 0.1 \\
    --cold 'kill $(cat petcut.pid); node dist/main.js & echo $! > petcut.pid'
  petcut validate https://candidate---petcut-staging-xxxx.a.run.app --smoke --expect-revision petcut-staging-00042-abc --json smoke.json

Smoke subset (--smoke; what petcut rollout runs on the candidate's tag URL): ${SMOKE_STEP_IDS.join(', ')}.

Checks (run in this order; --only / --skip take their names): ${CHECK_IDS.join(', ')}.
Credentials from the environment only: PETCUT_VALIDATE_OPERATOR_KEY (operator routes: /metrics, /health),
PETCUT_VALIDATE_TOKEN (a storefront token for the upload routes).

Exit codes: 0 every check that ran passed; 1 a check failed; 2 bad usage; 3 the target is unreachable
(--smoke: 1 a step failed; 3 /readyz never answered within --ready-timeout).`;

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  return value;
}

function checkList(flag: string, text: string): CheckId[] {
  const names = text.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.find((name) => !(CHECK_IDS as readonly string[]).includes(name));
  if (unknown !== undefined || names.length === 0) throw new UsageError(`${flag}: unknown check "${unknown ?? text}": use ${CHECK_IDS.join(', ')}`);
  return names as CheckId[];
}

function targetUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`<url>: "${text}" is not a URL: give the service's base URL, e.g. https://petcut-staging-xxxx.a.run.app`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`<url>: "${text}" must be http:// or https://`);
  return url.toString().replace(/\/+$/, '');
}

export function validateOptions(url: string, flags: ValidateFlags, env: NodeJS.ProcessEnv): ValidateOptions {
  if (flags.only && flags.skip) throw new UsageError('--only and --skip: give one of them');
  const skip = flags.skip ? checkList('--skip', flags.skip) : [];
  const checks = flags.only ? checkList('--only', flags.only) : CHECK_IDS.filter((id) => !skip.includes(id));
  const scale = Number(flags.scale);
  if (!(scale > 0 && scale <= 1)) throw new UsageError(`--scale: "${flags.scale}" must be above 0 and at most 1`);
  if (!/^[a-z0-9][a-z0-9-]*(\.myshopify\.com)?$/i.test(flags.shop)) throw new UsageError(`--shop: "${flags.shop}" must be a shop name or <name>.myshopify.com`);
  if (flags.storefrontOrigin && !/^https?:\/\/[a-z0-9.-]+(:\d+)?$/i.test(flags.storefrontOrigin)) throw new UsageError(`--storefront-origin: "${flags.storefrontOrigin}" must be an origin such as https://perkieprints.com`);
  return {
    url: targetUrl(url),
    checks,
    samples: integer('--samples', flags.samples, 1, 1000),
    size: flags.size,
    concurrency: Math.max(1, Math.round(integer('--concurrency', flags.concurrency, 1, 1000) * scale)),
    pressure: Math.max(2, Math.round(integer('--pressure', flags.pressure, 1, 200) * scale)),
    cold: flags.cold,
    coldRuns: integer('--cold-runs', flags.coldRuns, 1, 100),
    memoryLimitMb: flags.memoryLimitMb === undefined ? undefined : integer('--memory-limit-mb', flags.memoryLimitMb, 64, 1_048_576),
    shop: flags.shop,
    storefrontOrigin: flags.storefrontOrigin,
    wsSeconds: integer('--ws-seconds', flags.wsSeconds, 0, 3600),
    photos: flags.photos,
    timeoutS: integer('--timeout-s', flags.timeoutS, 1, 3600),
    operatorKey: env.PETCUT_VALIDATE_OPERATOR_KEY || undefined,
    token: env.PETCUT_VALIDATE_TOKEN || undefined,
  };
}

export function smokeOptions(url: string, flags: ValidateFlags, env: NodeJS.ProcessEnv): SmokeOptions {
  const misplaced = (['only', 'skip', 'cold'] as const).find((flag) => flags[flag] !== undefined);
  if (misplaced) throw new UsageError(`--smoke runs its own steps (${SMOKE_STEP_IDS.join(', ')}): leave out --${misplaced}`);
  if (flags.expectRevision !== undefined && !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(flags.expectRevision)) {
    throw new UsageError(`--expect-revision: "${flags.expectRevision}" must be a Cloud Run revision name, e.g. petcut-staging-00042-abc`);
  }
  if (!/^[a-z0-9][a-z0-9-]*(\.myshopify\.com)?$/i.test(flags.shop)) throw new UsageError(`--shop: "${flags.shop}" must be a shop name or <name>.myshopify.com`);
  return {
    url: targetUrl(url),
    timeoutS: integer('--timeout-s', flags.timeoutS, 1, 3600),
    readyTimeoutS: flags.readyTimeout === undefined ? READY_TIMEOUT_S : integer('--ready-timeout', flags.readyTimeout, 1, 3600),
    expectRevision: flags.expectRevision,
    operatorKey: env.PETCUT_VALIDATE_OPERATOR_KEY || undefined,
    token: env.PETCUT_VALIDATE_TOKEN || undefined,
    photos: flags.photos,
    shop: flags.shop,
  };
}

/** `--smoke`: exit 0 every step passed, 1 one failed, 2 bad usage, 3 /readyz never answered at all. */
async function runSmokeCommand(url: string, flags: ValidateFlags, log: (line: string) => void): Promise<number> {
  let options: SmokeOptions;
  try {
    options = smokeOptions(url, flags, process.env);
  } catch (error) {
    log(`petcut validate: ${(error as Error).message}`);
    return EXIT.usage;
  }
  const report = await runSmoke(options, (line) => log(`  ${line}`));
  process.stdout.write(formatSmokeReport(report));
  const code = report.unreachable ? EXIT.unreachable : report.passed ? EXIT.pass : EXIT.fail;
  if (report.unreachable) log(`petcut validate: ${report.steps[0]?.detail ?? 'unreachable'}`);
  if (flags.json) await writeFile(flags.json, `${JSON.stringify({ ...report, exitCode: code }, null, 2)}\n`);
  return code;
}

export async function runValidate(url: string, flags: ValidateFlags, log: (line: string) => void): Promise<number> {
  if (flags.smoke) return runSmokeCommand(url, flags, log);
  if (flags.expectRevision !== undefined || flags.readyTimeout !== undefined) {
    log(`petcut validate: ${flags.expectRevision !== undefined ? '--expect-revision' : '--ready-timeout'} belongs to --smoke`);
    return EXIT.usage;
  }
  let options: ValidateOptions;
  let thresholds;
  try {
    options = validateOptions(url, flags, process.env);
    thresholds = await loadThresholds(flags.slo);
  } catch (error) {
    log(`petcut validate: ${(error as Error).message}`);
    return EXIT.usage;
  }
  try {
    const report = await runValidation(options, thresholds, (line) => log(`  ${line}`));
    process.stdout.write(formatReport(report));
    const code = report.passed ? EXIT.pass : EXIT.fail;
    if (flags.json) await writeFile(flags.json, `${JSON.stringify({ ...report, exitCode: code }, null, 2)}\n`);
    return code;
  } catch (error) {
    if (!(error instanceof UnreachableError)) throw error;
    log(`petcut validate: ${error.message}`);
    if (flags.json) await writeFile(flags.json, `${JSON.stringify({ url: options.url, error: error.message, exitCode: EXIT.unreachable }, null, 2)}\n`);
    return EXIT.unreachable;
  }
}

export function registerValidateCommand(program: Command, log: (line: string) => void): void {
  program.command('validate')
    .description('run the staging checklist against a deployed petcut (cold start, warm latency, memory, storage, CORS, WebSockets, concurrency, health) and score it out of 100; --smoke: the quick subset a rollout runs on a candidate')
    .argument('<url>', 'the service\'s base URL')
    .option('--only <checks>', `run only these (comma-separated: ${CHECK_IDS.join(', ')})`)
    .option('--skip <checks>', 'run all but these')
    .option('--samples <n>', 'warm cut-outs to time', '10')
    .addOption(new Option('--size <size>', 'photo size: full (4000x3000, a phone\'s 12 MP) or preview (1024x768, for slow CPU machines; same thresholds)').choices(['full', 'preview']).default('full'))
    .option('--concurrency <n>', 'requests at once in the load check (the plan\'s 100 concurrent users)', '100')
    .option('--scale <share>', 'scale --concurrency and --pressure down (0-1), e.g. 0.1 on a laptop', '1')
    .option('--pressure <n>', 'photos sent at once by the memory-pressure simulation', '16')
    .option('--cold <command>', 'shell command that makes the target cold (restart, scale to zero); gets PETCUT_VALIDATE_URL')
    .option('--cold-runs <n>', 'cold starts to time', '3')
    .option('--memory-limit-mb <mb>', 'the container\'s memory limit (default: what /health or /metrics report)')
    .option('--shop <name>', 'the shop (<name>.myshopify.com) whose theme calls the API', 'petcut-validate')
    .option('--storefront-origin <origin>', 'the shop\'s custom domain, e.g. https://perkieprints.com')
    .option('--ws-seconds <s>', 'how long the progress socket must stay open with pings (the plan\'s "minutes": 300)', '5')
    .option('--photos <dir>', 'pet photos to use (default: ../shared/fixtures/pets when present, else a generated cat)')
    .option('--slo <file>', 'the SLO file the thresholds come from', DEFAULT_SLO_FILE)
    .option('--timeout-s <s>', 'longest wait for one answer', '120')
    .option('--json <file>', 'write the report as JSON')
    .option('--smoke', `run only the quick smoke subset (${SMOKE_STEP_IDS.join(', ')}): what petcut rollout runs on a candidate's tag URL`)
    .option('--expect-revision <name>', 'with --smoke: every petcut_ series of /metrics must carry revision="<name>" (the candidate\'s K_REVISION)')
    .option('--ready-timeout <s>', `with --smoke: how long /readyz is polled for a 200 (default ${READY_TIMEOUT_S})`)
    .addHelpText('after', HELP)
    // Usage errors (an unknown flag, a bad --size) exit 2 like the other wrong input; --help exits 0.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT.usage))
    .action(async (url: string, flags: ValidateFlags) => {
      process.exitCode = await runValidate(url, flags, log);
    });
}
