import { writeFile } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import { isPetcutError } from '../errors.js';
import { DEFAULT_VALUES_DIR, ENVIRONMENTS, loadValues, renderYaml } from '../ops/index.js';
import type { Environment } from '../ops/index.js';

/**
 * `petcut deploy render`: the Cloud Run service for staging or production,
 * rendered from deploy/cloudrun/ (deploy/cloudrun/README.md). Exit codes: 0
 * rendered; 2 a wrong flag, image reference or values file (the message names
 * the flag, or the file and field, and what is allowed); 1 anything else
 * (the output file could not be written, say).
 */
export interface RenderFlags {
  env: Environment;
  image?: string;
  gpu?: boolean;
  cpu?: boolean;
  values: string;
  revisionSuffix?: string;
  keepTraffic?: string;
  output?: string;
}

const EXIT_USAGE = 2;

const HELP = `
Examples:
  petcut deploy render --env staging --image us-central1-docker.pkg.dev/petcut-prod/petcut/petcut-cpu@sha256:<digest> -o staging.yml
  petcut deploy render --env production --image us-central1-docker.pkg.dev/petcut-prod/petcut/petcut-gpu@sha256:<digest> \\
    --revision-suffix v42 --keep-traffic petcut-production-v41 -o production.yml
  gcloud run services replace production.yml --project petcut-prod --region us-central1

Without --image the manifest is a preview: its image reference is a placeholder gcloud refuses.
Without --keep-traffic the new revision gets 100% of traffic (the first deploy); with it, the
named revision keeps 100% and the new one (--revision-suffix) gets 0% under the tag "candidate".

Exit codes: 0 rendered; 2 a wrong flag, image reference or values file; 1 anything else.`;

export async function runDeployRender(flags: RenderFlags, log: (line: string) => void): Promise<void> {
  let text: string;
  try {
    const values = loadValues(flags.env, flags.values);
    const variant = flags.gpu ? 'gpu' : flags.cpu ? 'cpu' : undefined;
    text = renderYaml(values, { variant, image: flags.image, keepTraffic: flags.keepTraffic, revisionSuffix: flags.revisionSuffix }, flags.values);
  } catch (error) {
    if (!isPetcutError(error)) throw error;
    log(`petcut deploy: ${error.message}`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  if (!flags.image) log('petcut deploy: no --image: this is a preview (the image reference is a placeholder gcloud refuses)');
  if (!flags.output) {
    process.stdout.write(text);
    return;
  }
  await writeFile(flags.output, text);
  log(`petcut deploy: wrote ${flags.output}`);
}

export function registerDeployCommand(program: Command, log: (line: string) => void): void {
  const deploy = program.command('deploy').description('Cloud Run deployment: render the staging or production service manifest from deploy/cloudrun/');
  deploy.command('render')
    .description('write the Cloud Run service YAML (serving.knative.dev/v1) for `gcloud run services replace`')
    .addOption(new Option('--env <environment>', 'which service').choices(ENVIRONMENTS).makeOptionMandatory())
    .option('--image <ref@sha256:digest>', 'the image by digest (a tag alone is refused)')
    .addOption(new Option('--gpu', 'the NVIDIA L4 variant').conflicts('cpu'))
    .addOption(new Option('--cpu', 'the CPU-only variant').conflicts('gpu'))
    .option('--values <dir>', 'folder with base.yml and <env>.yml', DEFAULT_VALUES_DIR)
    .option('--revision-suffix <suffix>', 'name the new revision <service>-<suffix>')
    .option('--keep-traffic <revision>', 'keep 100% of traffic on this revision; the new one gets 0% (tag "candidate"); needs --revision-suffix')
    .option('-o, --output <file>', 'write the YAML here instead of stdout')
    .addHelpText('after', HELP)
    // Usage errors (a missing --env, --gpu with --cpu) exit 2 like the other wrong input; --help exits 0.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE))
    .action(async (flags: RenderFlags) => {
      await runDeployRender(flags, log);
    });
}
