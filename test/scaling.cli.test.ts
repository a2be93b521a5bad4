import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudRunError } from '../src/ops/cloudrun/errors.js';
import { createCloudRunClient } from '../src/ops/cloudrun/rest.js';
import type { CloudRunClient } from '../src/ops/cloudrun/rest.js';
import type { RevisionTemplate, Service } from '../src/ops/cloudrun/types.js';
import { setServiceScaling } from '../src/ops/scaling/apply.js';
import type { SchedulerExport } from '../src/ops/scaling/export.js';
import { startCloudRunFake } from './support/cloudRunFake.js';
import type { CloudRunFake } from './support/cloudRunFake.js';

/**
 * `petcut scale` as an operator runs it (dist/cli/index.js: `npm run build`
 * first), and setServiceScaling against the loopback Admin API whose revisions
 * are real petcut processes: one service and one revision for the file (a
 * rollout-like 90/10 split with the rollout's annotation), its story in order.
 */
const run = promisify(execFile);
const CLI = new URL('../dist/cli/index.js', import.meta.url).pathname;
const ref = { project: 'petcut-test', region: 'us-east4', service: 'petcut-scale' } as const;
const IMAGE = 'us-docker.pkg.dev/petcut-test/petcut/petcut';
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
const ROLLOUT = 'petcut.dev/rollout';
const template = (tag: string): RevisionTemplate => ({ containers: [{ name: 'petcut', image: `${IMAGE}:${tag}`, env: [{ name: 'PETCUT_SWEEP_INTERVAL_S', value: '0' }] }] });
const short = (name: string | undefined): string => name?.split('/').at(-1) ?? '';

interface Result { code: number; stdout: string; stderr: string }
async function petcut(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('petcut scale plan and export (no cloud)', () => {
  it('plan --week over the November DST change shows the UTC shift and the week\'s floor cost', async () => {
    const result = await petcut(['scale', 'plan', '--week', '--from', '2026-10-28']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Sat 2026-10-31 18:00 UTC-04   2026-10-31 22:00Z  peak');
    expect(result.stdout).toContain('Sun 2026-11-01 18:00 UTC-05   2026-11-01 23:00Z  peak');
    expect(result.stdout).toMatch(/-- DST: UTC-4 -> UTC-5: the same local times are now 1 h later in UTC --/);
    expect(result.stdout).toMatch(/total\s+28\.0 instance-h {2}GPU {4}\$39\.79 {2}CPU only {4}\$20\.97/);
  });

  it('plan --json for a Black Friday week, CPU only', async () => {
    const result = await petcut(['scale', 'plan', '--week', '--from', '2026-11-23', '--gpu', 'none', '--json']);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { total: { instanceHours: number; gpuUsd?: number; cpuUsd: number }; floors: Array<{ label: string; min: number }> };
    expect(plan.total.instanceHours).toBe(156);
    expect(plan.total.gpuUsd).toBeUndefined();
    expect(plan.total.cpuUsd).toBeCloseTo(116.81, 2);
    expect(plan.floors.map((f) => f.label)).toContain('business / holiday / black-friday');
  });

  it('a bad schedule, a bad GPU and a bad time are usage errors (exit 2) that say what is wrong', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-scale-'));
    const bad = join(dir, 'schedule.yml');
    await writeFile(bad, 'timeZone: America/New_York\nwindows:\n  - { name: all, from: "00:00", until: "00:00", min: 2, max: 1 }\n');
    const schedule = await petcut(['scale', 'plan', '--schedule', bad]);
    expect([schedule.code, schedule.stderr.trim()]).toEqual([2, `petcut scale: Invalid scaling schedule ${bad}: windows[all].min: must not be more than max`]);
    expect((await petcut(['scale', 'plan', '--gpu', 'nvidia-h100'])).stderr).toMatch(/--gpu: nvidia-h100 has no price \(gpus: nvidia-l4, or none\)/);
    const at = await petcut(['scale', 'apply', '--at', 'teatime', '--project', 'p', '--region', 'r', '--service', 's']);
    expect([at.code, at.stderr]).toEqual([2, expect.stringMatching(/--at: "teatime" is not a time/)]);
    expect((await petcut(['scale', 'export', '--env', 'production'])).code).toBe(2);
    await rm(dir, { recursive: true, force: true });
  });

  it('export warns of a job in the hour DST skips or repeats', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-scale-'));
    const file = join(dir, 'schedule.yml');
    await writeFile(file, 'timeZone: America/New_York\nwindows:\n  - { name: night, from: "02:30", until: "09:00", min: 0, max: 2 }\n  - { name: day, from: "09:00", until: "02:30", min: 1, max: 2 }\n');
    const result = await petcut(['scale', 'export', '--scheduler', '--schedule', file, '--project', 'p', '--region', 'r', '--service', 's', '--year', '2027']);
    expect(result.code).toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual(['petcut scale: warning: petcut-scale-s-night-0230 (30 2 * * *) is in the hour DST skips or repeats: try it on staging first']);
    await rm(dir, { recursive: true, force: true });
  });

  it('--help shows examples and exit codes', async () => {
    for (const command of ['plan', 'apply', 'export']) {
      const help = await petcut(['scale', command, '--help']);
      expect([help.code, help.stdout]).toEqual([0, expect.stringMatching(/Examples:[\s\S]*petcut scale[\s\S]*Exit codes: 0/)]);
    }
  });

  it('export --scheduler writes one job per boundary for the service of deploy/cloudrun/<env>.yml', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-scale-'));
    const out = join(dir, 'jobs.json');
    const result = await petcut(['scale', 'export', '--scheduler', '--env', 'staging', '--year', '2026', '--out', out]);
    expect(result.code).toBe(0);
    const file = JSON.parse(await readFile(out, 'utf8')) as SchedulerExport;
    expect(result.stdout).toBe(`${file.jobs.length} Cloud Scheduler jobs for ${file.service.service}, 2026, written to ${out}\n`);
    expect(file).toMatchObject({ year: 2026, timeZone: 'America/New_York', service: { service: 'petcut-staging' } });
    expect(file.jobs.find((j) => j.schedule === '0 18 * 1-10 *')).toMatchObject({ window: 'peak', body: { scaling: { minInstanceCount: 1, maxInstanceCount: 5 } } });
    expect(file.jobs.find((j) => j.schedule === '0 18 15-26,28-30 11 *')).toMatchObject({ season: 'holiday', scaling: { min: 2, max: 5 } });
    await rm(dir, { recursive: true, force: true });
  });
});

describe('petcut scale apply and setServiceScaling against a Cloud Run of petcut processes', () => {
  let fake: CloudRunFake;
  let client: CloudRunClient;
  let dataDir: string;
  let env: Record<string, string>;
  const patches = (): number => fake.requests.filter((line) => line.startsWith('PATCH ')).length;
  const cli = (args: string[]): Promise<Result> => petcut(['scale', 'apply', '--project', ref.project, '--region', ref.region, '--service', ref.service, ...args], env);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'petcut-scale-fake-'));
    fake = await startCloudRunFake({ dataDir, baseEnv: { PETCUT_LOG_LEVEL: 'warn', PETCUT_COST_LEDGER: 'off', PETCUT_CONCURRENCY: '1' } });
    fake.images.set(`${IMAGE}:v1`, {});
    await fake.createService(ref, template('v1'));
    client = createCloudRunClient({ baseUrl: fake.apiBase, token: () => Promise.resolve('test-token'), pollMs: 50 });
    env = { PETCUT_CLOUD_RUN_API: fake.apiBase, PETCUT_CLOUD_RUN_TOKEN: 'test-token' };
  });
  afterAll(async () => {
    await fake?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('sets service-level scaling with no new revision; the second apply sends nothing', async () => {
    const before = await client.getService(ref);
    const revisions = (await client.listRevisions(ref)).length;
    const first = await setServiceScaling(client, ref, { min: 1, max: 5 }, { waitMs: 30_000 });
    expect([first.before, first.changed, first.service.scaling]).toEqual([undefined, true, { minInstanceCount: 1, maxInstanceCount: 5 }]);
    expect(first.service.etag).not.toBe(before.etag);
    expect((await client.listRevisions(ref)).length).toBe(revisions);
    expect(fake.scalingChanges).toEqual([{ minInstanceCount: 1, maxInstanceCount: 5, revision: false }]);
    const sent = patches();
    const second = await setServiceScaling(client, ref, { min: 1, max: 5 });
    expect([second.changed, second.before, patches()]).toEqual([false, { min: 1, max: 5 }, sent]);
  });

  it('an etag conflict is read again and retried; a value Cloud Run refuses is refused before sending', async () => {
    fake.failNext(409, 1, /^PATCH /);
    const sent = patches();
    const change = await setServiceScaling(client, ref, { min: 0, max: 3 }, { waitMs: 30_000 });
    expect([change.changed, change.before, fake.serviceScaling()]).toEqual([true, { min: 1, max: 5 }, { minInstanceCount: 0, maxInstanceCount: 3 }]);
    expect(patches()).toBe(sent + 2);
    await expect(setServiceScaling(client, ref, { min: 4, max: 3 })).rejects.toThrow(/min not above max/);
    // The fake itself refuses what Cloud Run refuses (for anyone who sends it anyway).
    const service = await client.getService(ref);
    const refused = await client.updateService(ref, { ...service, scaling: { minInstanceCount: 4, maxInstanceCount: 3 } }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(CloudRunError);
    expect([(refused as CloudRunError).status, (refused as CloudRunError).reason]).toEqual([400, 'INVALID_ARGUMENT']);
  });

  it('during a rollout (a 90/10 split, a tag, the rollout\'s annotation) apply changes scaling only', async () => {
    // One revision is enough to hold a rollout's shape (and keeps the file to one petcut process):
    // a named revision at 90 %, LATEST at 10 % with the candidate tag, the state record in the annotation.
    const service = await client.getService(ref);
    const serving = short(service.latestReadyRevision);
    const split: Service = {
      ...service, annotations: { ...service.annotations, [ROLLOUT]: JSON.stringify({ step: 1, candidate: serving }) },
      traffic: [{ type: REVISION, revision: serving, percent: 90 }, { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 10, tag: 'candidate' }],
    };
    const during = await client.updateService(ref, split, { waitMs: 30_000 });
    expect([during.traffic?.map((t) => t.percent), during.traffic?.[1]?.tag, during.annotations?.[ROLLOUT]]).toEqual([[90, 10], 'candidate', split.annotations?.[ROLLOUT]]);
    const revisions = (await client.listRevisions(ref)).length;
    const result = await cli(['--at', '2026-11-27 19:00', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ window: 'peak', season: 'holiday', override: 'black-friday', before: { min: 0, max: 3 }, after: { min: 3, max: 5 }, changed: true });
    const after = await client.getService(ref);
    expect(after.scaling).toEqual({ minInstanceCount: 3, maxInstanceCount: 5 });
    expect([after.traffic, after.annotations?.[ROLLOUT], after.template]).toEqual([during.traffic, during.annotations?.[ROLLOUT], during.template]);
    expect((await client.listRevisions(ref)).length).toBe(revisions);
    const again = await cli(['--at', '2026-11-27 19:00']);
    expect([again.code, again.stdout]).toEqual([0, expect.stringMatching(/min 3, max 5 -> min 3, max 5: already/)]);
  });

  it('--dry-run reads and prints, sends nothing; an unreachable API is exit 1', async () => {
    const sent = patches();
    const dry = await cli(['--at', '2026-07-01 12:00', '--dry-run']);
    expect([dry.code, dry.stdout]).toEqual([0, expect.stringMatching(/business\n {2}min 3, max 5 -> min 0, max 3: would set \(dry run, nothing sent\)/)]);
    expect(patches()).toBe(sent);
    const down = await petcut(['scale', 'apply', '--project', 'p', '--region', 'r', '--service', 's'], { PETCUT_CLOUD_RUN_API: 'http://127.0.0.1:9', PETCUT_CLOUD_RUN_TOKEN: 't' });
    expect(down.code).toBe(1);
  });

  it('each exported Cloud Scheduler request, sent as the Scheduler sends it, sets its values and nothing else', async () => {
    const result = await petcut(['scale', 'export', '--scheduler', '--project', ref.project, '--region', ref.region, '--service', ref.service, '--year', '2026']);
    const jobs = (JSON.parse(result.stdout) as SchedulerExport).jobs;
    const before = await client.getService(ref);
    const revisions = (await client.listRevisions(ref)).length;
    for (const job of [jobs.find((j) => j.window === 'peak' && !j.season)!, jobs.find((j) => j.override === 'black-friday')!]) {
      const uri = job.uri.replace('https://run.googleapis.com', fake.apiBase);
      const answer = await fetch(uri, { method: job.httpMethod, headers: { authorization: 'Bearer scheduler-oauth-token', 'content-type': 'application/json' }, body: JSON.stringify(job.body) });
      expect(answer.status).toBe(200);
      expect(fake.serviceScaling()).toEqual({ minInstanceCount: job.scaling.min, maxInstanceCount: job.scaling.max });
    }
    const after = await client.getService(ref);
    expect([after.traffic, after.annotations, after.template]).toEqual([before.traffic, before.annotations, before.template]);
    expect((await client.listRevisions(ref)).length).toBe(revisions);
    expect(fake.scalingChanges.every((c) => !c.revision)).toBe(true);
  });
});
