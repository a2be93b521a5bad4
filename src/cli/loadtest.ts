import { Option } from 'commander';
import type { Command } from 'commander';
import { DEFAULT_PROFILES_FILE, LOADTEST_EXIT, runLoadtest, SCENARIOS } from '../ops/index.js';
import type { LoadtestFlags } from '../ops/index.js';

/**
 * `petcut loadtest <url> --profile <name>`: the plan's load profiles against a
 * running petcut (docs/loadtest.md). Exit codes: 0 every threshold met; 1 a
 * threshold failed (named in the output and the report); 2 a wrong flag, profiles
 * or SLO file (naming the file, the field and what is allowed); 3 the target is unreachable.
 */
const HELP = `
Examples:
  petcut loadtest http://localhost:8080 --profile sustained --scale 0.1
  petcut loadtest https://petcut-staging-xyz.a.run.app --profile burst --size phone --out out/loadtest/burst
  petcut loadtest https://petcut-staging-xyz.a.run.app --profile cold \\
    --cold 'gcloud run services update petcut-staging --region us-central1 --min-instances 0 && sleep 900'

Profiles (${DEFAULT_PROFILES_FILE}): concurrent, sustained, burst, cold, mixed, smoke.
Scenarios a profile may use: ${Object.keys(SCENARIOS).join(', ')}.
Thresholds: the objectives the profile names, with their numbers from the SLO file (--slo).
Writes report.json, report.html and PNG charts to --out (default out/loadtest/<timestamp>/).

Credentials from the environment only: PETCUT_LOADTEST_TOKEN (a storefront token, sent as
Authorization: Bearer), PETCUT_LOADTEST_OPERATOR_KEY (sent as X-API-Key).

Exit codes: 0 thresholds met; 1 a threshold failed; 2 bad usage or a bad profiles/SLO file; 3 target unreachable.`;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerLoadtestCommand(program: Command, log: (line: string) => void): void {
  program.command('loadtest')
    .description('load-test a running petcut with a profile from the plan (open-model arrivals, real uploads and job WebSockets); thresholds from the SLO file')
    .argument('<url>', 'the service, e.g. http://localhost:8080')
    .requiredOption('--profile <name>', 'profile name in the profiles file')
    .option('--profiles <file>', 'profiles file', DEFAULT_PROFILES_FILE)
    .option('--slo <file>', 'SLO file the threshold numbers come from', 'deploy/slo/petcut.slo.yml')
    .option('--scale <factor>', 'multiply rates, users and durations (e.g. 0.1)', '1')
    .addOption(new Option('--size <size>', 'photos: preview (1024x768) or phone (4032x3024, 12 MP)').choices(['preview', 'phone']).default('preview'))
    .option('--out <dir>', 'report folder (default out/loadtest/<timestamp>)')
    .option('--cold <command>', 'shell command run before the first request (cold profile: scale the service to zero)')
    .option('--photos <dir>', 'folder of pet photos (JPEG/PNG)', '../shared/fixtures/pets')
    .option('--header <name: value>', 'extra request header, repeatable (credentials are refused here: PETCUT_LOADTEST_TOKEN, PETCUT_LOADTEST_OPERATOR_KEY)', collect)
    .option('--timeout <s>', 'per-request timeout in seconds', '120')
    .option('--seed <n>', 'seed for arrivals and the mix (replayable schedules)')
    .option('--probe <s>', 'seconds of /healthz flooding to measure the generator (0: skip)', '2')
    .addHelpText('after', HELP)
    // Usage errors (a missing --profile, a wrong --size) exit 2 like the other wrong input; --help exits 0.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : LOADTEST_EXIT.usage))
    .action(async (url: string, flags: LoadtestFlags) => {
      const { exitCode } = await runLoadtest(url, flags, log);
      process.exitCode = exitCode;
    });
}
