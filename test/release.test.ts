// scripts/release.sh, the one command CI runs from a commit to a deployed
// revision, in --dry-run (the plan it would run, in order), and the Cloud
// Build definition that calls it. The steps themselves run for real elsewhere:
// the image build and smoke test in CI (npm run image:build / image:smoke), the
// render in test/deploy.render.test.ts; push and deploy need a real project and
// were never run from here.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function release(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['scripts/release.sh', ...args], { cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The steps of a dry run: [step, command]. */
const steps = (stdout: string): Array<[string, string]> => [...stdout.matchAll(/^release: \[(\w+)\] (.*)$/gm)].map((m) => [m[1]!, m[2]!]);

describe('scripts/release.sh --dry-run', () => {
  it('staging: build, smoke, push, render by digest, replace the service', async () => {
    const { code, stdout } = await release('--env', 'staging', '--project', 'perkieprints-test', '--dry-run');
    expect(code).toBe(0);
    const plan = steps(stdout);
    expect(plan.map(([step]) => step)).toEqual(['build', 'smoke', 'push', 'render', 'deploy']);
    const repo = 'us-central1-docker.pkg.dev/perkieprints-test/petcut';
    expect(plan[0]![1]).toMatch(/^docker build -f deploy\/container\/Dockerfile --target cpu /);
    expect(plan[2]![1]).toMatch(new RegExp(`^docker push ${repo}/petcut-cpu:[0-9a-f]{12}$`));
    // What is deployed is the digest the push produced, never the tag.
    expect(plan[3]![1]).toContain(`deploy render --env staging --image ${repo}/petcut-cpu@sha256:`);
    expect(plan[3]![1]).toContain('--cpu');
    expect(plan[4]![1]).toBe('gcloud run services replace out/petcut-staging.yaml --project perkieprints-test --region us-central1');
  });

  it('production: the GPU image, its CPU twin smoke-tested, and the blue-green rollout of the pushed digest', async () => {
    const { code, stdout } = await release('--env', 'production', '--project', 'perkieprints-test', '--dry-run');
    expect(code).toBe(0);
    const plan = steps(stdout);
    expect(plan.map(([step]) => step)).toEqual(['build', 'build', 'smoke', 'push', 'deploy']);
    expect(plan[0]![1]).toContain('--target cpu');
    expect(plan[1]![1]).toContain('--target gpu');
    expect(plan[2]![1]).toMatch(/smoke\.mjs --runtime docker \S+\/petcut-cpu:/);
    expect(plan[3]![1]).toMatch(/docker push \S+\/petcut-gpu:/);
    expect(plan[4]![1]).toMatch(/rollout --env production --project perkieprints-test --region us-central1 --image \S+\/petcut-gpu@sha256:\S+ --revision-suffix r[0-9a-f]{12}$/);
  });

  it.each([
    [['--env', 'prod', '--project', 'perkieprints-test'], /--env must be staging or production, got "prod"/],
    [['--env', 'staging'], /--project is required/],
    [['--env', 'staging', '--project', 'Bad_Project'], /is not a Google Cloud project id/],
    [['--env', 'staging', '--project', 'perkieprints-test', '--target', 'tpu'], /--target must be cpu or gpu, got "tpu"/],
    [['--env', 'staging', '--project', 'perkieprints-test', '--colour'], /unknown argument "--colour"/],
  ])('bad usage %j exits 2 and says what is allowed', async (args, message) => {
    const { code, stderr } = await release(...args, '--dry-run');
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });
});

describe('deploy/pipeline/cloudbuild.yaml', () => {
  const build = parse(readFileSync(`${root}/deploy/pipeline/cloudbuild.yaml`, 'utf8')) as {
    steps: Array<{ name: string; args: string[] }>; timeout: string; serviceAccount: string; substitutions: Record<string, string>;
  };

  it('runs the one command, in a Node image pinned by digest with the image\'s Node major', () => {
    expect(build.steps).toHaveLength(1);
    const step = build.steps[0]!;
    expect(step.name).toMatch(/^docker\.io\/library\/node:(\d+)-bookworm@sha256:[0-9a-f]{64}$/);
    const dockerfile = readFileSync(`${root}/deploy/container/Dockerfile`, 'utf8');
    expect(step.name).toContain(`node:${/^ARG NODE_MAJOR=(\d+)$/m.exec(dockerfile)?.[1]}-`);
    expect(step.args.join('\n')).toMatch(/scripts\/release\.sh --env \$\{_ENV\} --project \$PROJECT_ID --region \$\{_REGION\}/);
  });

  it('fits the plan\'s 15 minutes and runs as the environment\'s deployer, not the default Cloud Build account', () => {
    expect(Number.parseInt(build.timeout, 10)).toBeLessThanOrEqual(900);
    expect(build.serviceAccount).toBe('projects/$PROJECT_ID/serviceAccounts/petcut-deploy-${_ENV}@$PROJECT_ID.iam.gserviceaccount.com');
    expect(build.substitutions._ENV).toBe('staging');
  });
});
