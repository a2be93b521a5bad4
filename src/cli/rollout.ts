import { writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { Option } from 'commander';
import type { Command } from 'commander';
import { isPetcutError } from '../errors.js';
import {
  CloudRunError, DEFAULT_ROLLOUT_FILE, DEFAULT_VALUES_DIR, ENVIRONMENTS, PrometheusError, ROLLOUT_EXIT, RolloutFileError, RolloutUsageError,
  createPrometheusClient, createRollout, createWebhook, googleAccessToken, loadRolloutConfig, runSmoke,
} from '../ops/index.js';
import type { Environment, Outcome, RolloutDeps } from '../ops/index.js';
import { cloudRunFromEnv, serviceRefOf } from './cloudRun.js';

/**
 * `petcut rollout`: blue-green release on Cloud Run with analysis windows and
 * automatic rollback (docs/rollout.md). Exit codes (ROLLOUT_EXIT): 0 promoted
 * (or the status/abort/promote asked for was done); 1 rolled back, aborted or
 * the candidate failed (customers stay on the old revision); 2 bad usage or
 * rollout file; 3 Cloud Run or the query API refused or could not be reached;
 * 4 paused (an inconclusive watch waits for a person); 5 refused before any
 * change (another rollout holds the lock, outside the deploy window, the
 * service unhealthy). Secrets come from the environment only.
 */
export interface RolloutFlags {
  env: Environment;
  image?: string;
  revisionSuffix?: string;
  now?: boolean;
  resume?: boolean;
  dryRun?: boolean;
  config: string;
  values: string;
  project?: string;
  region?: string;
  service?: string;
  prometheus?: string;
  googlePrometheus?: boolean;
  reason: string;
  force?: boolean;
  json?: string;
}

const ACTIONS = ['start', 'status', 'abort', 'promote'] as const;
type Action = (typeof ACTIONS)[number];

const HELP = `
Examples:
  petcut rollout --env production --image us-central1-docker.pkg.dev/perkieprints-petcut-production/petcut/petcut-gpu@sha256:<digest>
  petcut rollout --env production --image <ref@sha256:digest> --dry-run      # every call and query, nothing changed
  petcut rollout status --env production                                      # from any machine
  petcut rollout promote --env production                                     # skip the remaining waits
  petcut rollout abort --env production --reason "checkout errors"            # every request back on the old revision
  petcut rollout --env production --resume                                    # after a killed run: on from the recorded step

The steps, watches, rollback criteria (PromQL) and deploy window are in ${DEFAULT_ROLLOUT_FILE}.
The service (project, region, name) comes from deploy/cloudrun/<env>.yml unless --project/--region/--service say otherwise.

Environment (secrets never go on the command line):
  PETCUT_PROMETHEUS_URL     the query API (or --prometheus); Managed Service for Prometheus:
                            https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus (with --google-prometheus)
  PETCUT_PROMETHEUS_TOKEN   a bearer token for it (else none; --google-prometheus: Application Default Credentials)
  PETCUT_CLOUD_RUN_TOKEN    an access token for the Admin API (default: Application Default Credentials)
  PETCUT_CLOUD_RUN_API      the Admin API's root (default https://run.googleapis.com)
  PETCUT_ROLLOUT_WEBHOOK    a Slack-compatible webhook told of start, rollback, pause and the end
  PETCUT_VALIDATE_OPERATOR_KEY, PETCUT_VALIDATE_TOKEN   what the candidate's smoke test sends (petcut validate)

Exit codes: 0 promoted (or status/abort/promote done); 1 rolled back, aborted or the candidate failed;
2 bad usage or rollout file; 3 Cloud Run or the query API refused or unreachable; 4 paused (inconclusive:
promote, abort or --resume); 5 refused before any change (locked, outside the window, unhealthy service).`;

function owner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container): the host and pid still tell runs apart.
  }
  return `${user}@${hostname()} (pid ${process.pid})`;
}

async function depsOf(flags: RolloutFlags, log: (line: string) => void, env: NodeJS.ProcessEnv): Promise<RolloutDeps> {
  const config = await loadRolloutConfig(flags.config);
  const ref = serviceRefOf(flags);
  const promUrl = flags.prometheus ?? env.PETCUT_PROMETHEUS_URL;
  if (!promUrl) throw new RolloutUsageError('--prometheus: the analysis needs a Prometheus query API (--prometheus URL or PETCUT_PROMETHEUS_URL)');
  const promToken = env.PETCUT_PROMETHEUS_TOKEN ? env.PETCUT_PROMETHEUS_TOKEN : flags.googlePrometheus ? googleAccessToken() : undefined;
  const cloudRun = cloudRunFromEnv(env, { dryRun: flags.dryRun, log });
  const smokeTimeout = Math.ceil(config.smoke.timeout / 1000);
  return {
    cloudRun, config, ref, owner: owner(), log,
    prometheus: createPrometheusClient(promUrl, { token: promToken }),
    notify: env.PETCUT_ROLLOUT_WEBHOOK ? createWebhook(env.PETCUT_ROLLOUT_WEBHOOK) : undefined,
    smoke: async (url, revision) => {
      const report = await runSmoke({
        url, timeoutS: smokeTimeout, readyTimeoutS: Math.ceil(config.smoke.ready_timeout / 1000), expectRevision: revision,
        operatorKey: env.PETCUT_VALIDATE_OPERATOR_KEY || undefined, token: env.PETCUT_VALIDATE_TOKEN || undefined, shop: 'petcut-rollout',
      }, (line) => log(`    smoke ${line}`));
      const failed = report.steps.filter((s) => s.status !== 'pass');
      return { passed: report.passed, summary: failed.length ? failed.map((s) => `${s.id}: ${s.detail}`).join('; ') : report.steps.map((s) => `${s.id} ${s.seconds}s`).join(', ') };
    },
  };
}

export async function runRollout(action: Action, flags: RolloutFlags, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let outcome: Outcome;
  try {
    if (action === 'start' && !flags.resume && !flags.image) throw new RolloutUsageError('--image: give the image to release (REGISTRY/PATH@sha256:<digest>), or --resume');
    if (action !== 'start' && (flags.image || flags.resume || flags.dryRun)) throw new RolloutUsageError(`${action}: --image, --resume and --dry-run belong to a release (petcut rollout --env ... --image ...)`);
    if (flags.resume && flags.image) throw new RolloutUsageError('--resume continues the recorded rollout with its own image: leave out --image');
    const rollout = createRollout(await depsOf(flags, log, env));
    if (action === 'status') {
      const status = await rollout.status();
      process.stdout.write(status.text);
      if (flags.json) await writeFile(flags.json, `${JSON.stringify({ state: status.state ?? null, traffic: status.service.trafficStatuses ?? [] }, null, 2)}\n`);
      return ROLLOUT_EXIT.done;
    }
    outcome = action === 'abort' ? await rollout.abort(flags.reason, flags.force)
      : action === 'promote' ? await rollout.promote()
        : flags.resume ? await rollout.resume()
          : flags.dryRun ? await rollout.plan({ image: flags.image!, revisionSuffix: flags.revisionSuffix, ignoreWindow: flags.now })
            : await rollout.start({ image: flags.image!, revisionSuffix: flags.revisionSuffix, ignoreWindow: flags.now });
  } catch (error) {
    if (error instanceof RolloutUsageError || error instanceof RolloutFileError || isPetcutError(error)) {
      log(`petcut rollout: ${error.message}`);
      return ROLLOUT_EXIT.usage;
    }
    if (error instanceof CloudRunError || error instanceof PrometheusError) {
      log(`petcut rollout: ${error.message}`);
      return ROLLOUT_EXIT.cloud;
    }
    throw error;
  }
  log(`petcut rollout: ${outcome.result}: ${outcome.message}`);
  if (outcome.activeMs !== undefined) log(`petcut rollout: ${Math.round(outcome.activeMs / 1000)} s of deployment work, ${Math.round((outcome.waitedMs ?? 0) / 1000)} s of watching${outcome.rollbackMs !== undefined ? `; rollback took ${(outcome.rollbackMs / 1000).toFixed(1)} s from the failing measurement` : ''}`);
  if (flags.json) await writeFile(flags.json, `${JSON.stringify(outcome, null, 2)}\n`);
  return outcome.exitCode;
}

export function registerRolloutCommand(program: Command, log: (line: string) => void): void {
  program.command('rollout')
    .description('blue-green release on Cloud Run: the candidate at 0 % with a tag, smoke-tested, then 10 % -> 50 % -> 100 % with watches and automatic rollback (deploy/rollout.yml)')
    .argument('[action]', 'start (the default), status, abort or promote')
    .addOption(new Option('--env <environment>', 'which service').choices(ENVIRONMENTS).makeOptionMandatory())
    .option('--image <ref@sha256:digest>', 'the image to release, by digest')
    .option('--revision-suffix <suffix>', 'name the candidate <service>-<suffix> (default r<UTC yyyymmddhhmm>)')
    .option('--now', 'ignore the deploy window')
    .option('--resume', 'take over the recorded rollout (a killed run) and go on from its step')
    .option('--dry-run', 'read for real, then print every change and query it would make; change nothing')
    .option('--reason <text>', 'abort: why (recorded and sent to the webhook)', 'aborted by hand')
    .option('--force', 'abort: also clear a record that is not a rollout\'s (hand-edited), putting every request on the revision serving most')
    .option('--config <file>', 'the rollout file', DEFAULT_ROLLOUT_FILE)
    .option('--values <dir>', 'where the service is defined (deploy/cloudrun/)', DEFAULT_VALUES_DIR)
    .option('--project <id>', 'the Google Cloud project (default: from --values)')
    .option('--region <region>', 'the region (default: from --values)')
    .option('--service <name>', 'the Cloud Run service (default: from --values)')
    .option('--prometheus <url>', 'the Prometheus query API (default PETCUT_PROMETHEUS_URL)')
    .option('--google-prometheus', 'authenticate to the query API with Application Default Credentials (Managed Service for Prometheus)')
    .option('--json <file>', 'write the outcome as JSON')
    .addHelpText('after', HELP)
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : ROLLOUT_EXIT.usage))
    .action(async (action: string | undefined, flags: RolloutFlags) => {
      const chosen = (action ?? 'start') as Action;
      if (!ACTIONS.includes(chosen)) {
        log(`petcut rollout: unknown action "${action}": use ${ACTIONS.join(', ')}`);
        process.exitCode = ROLLOUT_EXIT.usage;
        return;
      }
      process.exitCode = await runRollout(chosen, flags, log);
    });
}
