import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudRunError, EtagConflictError } from '../src/ops/cloudrun/errors.js';
import { createCloudRunClient } from '../src/ops/cloudrun/rest.js';
import type { CloudRunClient } from '../src/ops/cloudrun/rest.js';
import type { RevisionTemplate, Service, TrafficTarget } from '../src/ops/cloudrun/types.js';
import { startCloudRunFake } from './support/cloudRunFake.js';
import type { CloudRunFake } from './support/cloudRunFake.js';

/**
 * The Cloud Run REST client against a loopback Cloud Run (support/cloudRunFake.ts)
 * whose revisions are real petcut processes (dist/main.js: `npm run build` first).
 * One service for the whole file, its story told in order: each petcut loads
 * the model (seconds, ~400 MB), so at most three run at once.
 */
const ref = { project: 'petcut-test', region: 'europe-west1', service: 'petcut' } as const;
const SERVICE = `projects/${ref.project}/locations/${ref.region}/services/${ref.service}`;
const IMAGE = 'europe-docker.pkg.dev/petcut-test/petcut/petcut';
const V1 = `${IMAGE}:v1`;
const V2 = `${IMAGE}:v2`;
/** A bad build: petcut refuses its configuration and exits at start-up. */
const BAD = `${IMAGE}:bad-config`;
const MISSING = `${IMAGE}:never-pushed`;
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

const template = (image: string, revision?: string): RevisionTemplate => ({
  ...(revision ? { revision } : {}), containers: [{ name: 'petcut', image, env: [{ name: 'PETCUT_SWEEP_INTERVAL_S', value: '0' }] }],
});
const to = (revision: string, percent: number, tag?: string): TrafficTarget => ({ type: REVISION, revision, percent, ...(tag ? { tag } : {}) });
const short = (name: string | undefined): string => name?.split('/').at(-1) ?? '';

/** The error a promise rejects with (failing the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<CloudRunError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(CloudRunError);
  return error as CloudRunError;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('Cloud Run Admin API v2 client against a Cloud Run of petcut processes', () => {
  let fake: CloudRunFake;
  let client: CloudRunClient;
  let dataDir: string;
  let first: string;
  const served = (revision: string): number => fake.servedBy.get(revision) ?? 0;
  const targets = async (): Promise<Array<{ targets: string[]; labels: Record<string, string> }>> => JSON.parse(await readFile(fake.targetsFile, 'utf8'));

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'petcut-cloudrun-'));
    fake = await startCloudRunFake({ dataDir, baseEnv: { PETCUT_LOG_LEVEL: 'warn', PETCUT_COST_LEDGER: 'off', PETCUT_CONCURRENCY: '1' } });
    for (const image of [V1, V2]) fake.images.set(image, {});
    fake.images.set(BAD, { env: { PETCUT_CONCURRENCY: 'many' } });
    client = createCloudRunClient({ baseUrl: fake.apiBase, token: async () => 'test-token', pollMs: 20 });
    first = short((await fake.createService(ref, template(V1))).latestReadyRevision);
  });

  afterAll(async () => {
    await fake?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('reads the service as Cloud Run gives it, its first revision serving everything', async () => {
    const service = await client.getService(ref);
    expect(service).toMatchObject({
      name: SERVICE, uri: fake.serviceUrl, generation: '1', observedGeneration: '1', reconciling: false,
      latestReadyRevision: `${SERVICE}/revisions/${first}`, latestCreatedRevision: `${SERVICE}/revisions/${first}`,
      terminalCondition: { type: 'Ready', state: 'CONDITION_SUCCEEDED' }, trafficStatuses: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }],
    });
    expect(first).toMatch(/^petcut-00001-[a-z]{3}$/);
    expect(service.etag).toMatch(/\S/);
    expect((await fetch(`${fake.serviceUrl}/readyz`)).status).toBe(200);
    expect(served(first)).toBe(1);
    const running = fake.revisionProcess(first);
    expect(await targets()).toEqual([{ targets: [`127.0.0.1:${running?.port}`], labels: { cloud_run_service: 'petcut' } }]);
    expect(client.calls).toContain(`GET /v2/${SERVICE}`);
  });

  it('a new image makes a new revision that gets no traffic, only its tag URL', async () => {
    const before = await client.getService(ref);
    const after = await client.updateService(ref, { ...before, template: template(V2, 'petcut-v2'), traffic: [to(first, 100), to('petcut-v2', 0, 'candidate')] });
    expect(after.etag).not.toBe(before.etag);
    expect(after).toMatchObject({ generation: '2', observedGeneration: '2', latestReadyRevision: `${SERVICE}/revisions/petcut-v2`, reconciling: false });
    const candidate = after.trafficStatuses?.find((t) => t.tag === 'candidate');
    expect(candidate).toMatchObject({ revision: 'petcut-v2', uri: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(fake.revisionProcess('petcut-v2')?.pid).not.toBe(fake.revisionProcess(first)?.pid);

    const [firstBefore, v2Before] = [served(first), served('petcut-v2')];
    expect((await fetch(`${candidate?.uri}/readyz`)).status).toBe(200);
    expect([served(first), served('petcut-v2')]).toEqual([firstBefore, v2Before + 1]);
    for (let i = 0; i < 5; i++) expect((await fetch(`${fake.serviceUrl}/readyz`)).status).toBe(200);
    expect([served(first), served('petcut-v2')]).toEqual([firstBefore + 5, v2Before + 1]);
    expect((await targets()).map((t) => t.targets[0])).toHaveLength(2);
    expect(fake.requests.filter((r) => r.startsWith('GET /v2/projects/petcut-test/locations/europe-west1/operations/')).length).toBeGreaterThan(0);
  });

  it('a 90/10 split sends exactly 90 of 100 requests to one revision and 10 to the other', async () => {
    const service = await client.getService(ref);
    const after = await client.updateService(ref, { ...service, traffic: [to(first, 90), to('petcut-v2', 10, 'candidate')] });
    expect(after.trafficStatuses?.map((t) => [t.revision, t.percent ?? 0])).toEqual([[first, 90], ['petcut-v2', 10]]);
    expect(after.latestCreatedRevision).toBe(`${SERVICE}/revisions/petcut-v2`); // traffic only: no new revision
    const [a, b] = [served(first), served('petcut-v2')];
    for (let i = 0; i < 100; i++) expect((await fetch(`${fake.serviceUrl}/readyz`)).status).toBe(200);
    expect([served(first) - a, served('petcut-v2') - b]).toEqual([90, 10]);
  });

  it('a stale etag is an EtagConflictError and changes nothing; a taken revision name is not', async () => {
    const stale = await client.getService(ref);
    const annotated = await client.updateService(ref, { ...stale, annotations: { 'petcut.dev/rollout': 'test' } });
    expect(annotated.annotations).toEqual({ 'petcut.dev/rollout': 'test' });
    const conflict = await rejection(client.updateService(ref, { ...stale, traffic: [to(first, 100)] }));
    expect(conflict).toBeInstanceOf(EtagConflictError);
    expect(conflict.status).toBe(409);
    expect(conflict.message).toContain(`updating service ${SERVICE}`);
    expect(conflict.message).toContain('read it again and retry');
    expect((await client.getService(ref)).trafficStatuses?.map((t) => t.percent)).toEqual([90, 10]);

    const taken = await rejection(client.updateService(ref, { ...annotated, template: template(V1, 'petcut-v2') }));
    expect(taken).not.toBeInstanceOf(EtagConflictError);
    expect([taken.status, taken.reason]).toEqual([409, 'ALREADY_EXISTS']);
  });

  it('an image that does not exist fails its revision, names it in the error, and leaves the traffic where it was', async () => {
    const service = await client.getService(ref);
    const failed = await rejection(client.updateService(ref, { ...service, template: template(MISSING, 'petcut-v3') }));
    expect(failed.message).toContain(`updating service ${SERVICE}`);
    expect(failed.message).toContain("Revision 'petcut-v3' is not ready");
    expect(failed.message).toContain(`Image '${MISSING}' not found`);
    expect((await client.getRevision(ref, 'petcut-v3')).terminalCondition?.state).toBe('CONDITION_FAILED');
    const after = await client.getService(ref);
    expect(after).toMatchObject({ latestReadyRevision: `${SERVICE}/revisions/petcut-v2`, latestCreatedRevision: `${SERVICE}/revisions/petcut-v3`, terminalCondition: { state: 'CONDITION_FAILED' } });
    expect(after.trafficStatuses?.map((t) => [t.revision, t.percent])).toEqual([[first, 90], ['petcut-v2', 10]]);
    expect(fake.revisionProcess('petcut-v3')).toBeUndefined();
  });

  it('a container that exits at start-up fails its revision with the last lines of its output', async () => {
    const service = await client.getService(ref);
    const failed = await rejection(client.updateService(ref, { ...service, template: template(BAD, 'petcut-v4') }));
    expect(failed.message).toContain("Revision 'petcut-v4' is not ready");
    expect(failed.message).toContain('failed to start and listen on the port');
    expect(failed.message).toContain('PETCUT_CONCURRENCY'); // petcut's own refusal, from its output
    expect(fake.revisionProcess('petcut-v4')).toBeUndefined();
    expect((await client.getService(ref)).trafficStatuses?.map((t) => t.percent)).toEqual([90, 10]);
  });

  it('lists every revision across pages', async () => {
    const before = fake.requests.length;
    const revisions = await client.listRevisions(ref);
    expect(revisions.map((r) => short(r.name))).toEqual(['petcut-v4', 'petcut-v3', 'petcut-v2', first]);
    expect(revisions.map((r) => r.terminalCondition?.state)).toEqual(['CONDITION_FAILED', 'CONDITION_FAILED', 'CONDITION_SUCCEEDED', 'CONDITION_SUCCEEDED']);
    const pages = fake.requests.slice(before);
    expect(pages).toHaveLength(2);
    expect(pages[1]).toMatch(/\/revisions\?pageToken=\S+$/);
  });

  it('refuses to delete a revision that serves traffic, deletes an idle one with its process, and a missing one is no error', async () => {
    const serving = await rejection(client.deleteRevision(ref, first));
    expect([serving.status, serving.reason]).toEqual([400, 'FAILED_PRECONDITION']);
    expect(serving.message).toContain(`deleting revision ${first} of service ${SERVICE}`);
    const { pid } = fake.revisionProcess(first) ?? { pid: 0 };
    expect(alive(pid)).toBe(true);

    const service = await client.getService(ref);
    const candidateUri = service.trafficStatuses?.find((t) => t.tag === 'candidate')?.uri;
    const moved = await client.updateService(ref, { ...service, traffic: [to('petcut-v2', 100)] });
    expect(moved.trafficStatuses).toEqual([{ type: REVISION, revision: 'petcut-v2', percent: 100 }]);
    await expect(fetch(`${candidateUri}/readyz`)).rejects.toThrow(); // the tag's listener is closed

    await client.deleteRevision(ref, first);
    expect(alive(pid)).toBe(false);
    expect(fake.revisionProcess(first)).toBeUndefined();
    expect((await targets()).map((t) => t.targets[0])).toEqual([`127.0.0.1:${fake.revisionProcess('petcut-v2')?.port}`]);
    const gone = await rejection(client.getRevision(ref, first));
    expect(gone.status).toBe(404);
    expect(gone.message).toContain('Check the project (petcut-test), the region (europe-west1) and the service name (petcut)');
    await client.deleteRevision(ref, first); // already gone: fine
    expect(fake.requests.filter((r) => r === `DELETE /v2/${SERVICE}/revisions/${first}`)).toHaveLength(3);
  });

  it('without a token Cloud Run answers 401, and the error says how to log in', async () => {
    const anonymous = createCloudRunClient({ baseUrl: fake.apiBase, token: async () => undefined });
    const error = await rejection(anonymous.getService(ref));
    expect([error.status, error.reason]).toEqual([401, 'UNAUTHENTICATED']);
    expect(error.message).toContain(`reading service ${SERVICE}`);
    expect(error.message).toContain('gcloud auth application-default login');
  });

  it('a 503 on a GET is retried; on a PATCH it is not', async () => {
    fake.failNext(503, 1, /^GET \/v2\/projects\/[^/]+\/locations\/[^/]+\/services\/petcut$/);
    const before = fake.requests.length;
    const service = await client.getService(ref);
    expect(service.name).toBe(SERVICE);
    expect(fake.requests.slice(before)).toEqual([`GET /v2/${SERVICE}`, `GET /v2/${SERVICE}`]);

    fake.failNext(503, 1, /^PATCH /);
    const error = await rejection(client.updateService(ref, { ...service, annotations: { retried: 'no' } }));
    expect(error.status).toBe(503);
    expect(fake.requests.filter((r) => r.startsWith('PATCH ')).length).toBe(fake.requests.slice(0, before).filter((r) => r.startsWith('PATCH ')).length + 1);
    expect((await client.getService(ref)).annotations).not.toHaveProperty('retried');
  });

  it('a 403 names the service and says what to check', async () => {
    fake.failNext(403, 1, /^GET /);
    const error = await rejection(client.getService(ref));
    expect([error.status, error.reason]).toEqual([403, 'PERMISSION_DENIED']);
    expect(error.message).toContain(`reading service ${SERVICE}`);
    expect(error.message).toContain("Permission 'run.services.get' denied");
    expect(error.message).toContain('roles/run.developer');
    expect(error.message).toContain('gcloud auth application-default login');
  });

  it('a dry run reads for real, sends no PATCH or DELETE, and records what it would have sent', async () => {
    const logged: string[] = [];
    const dry = createCloudRunClient({ baseUrl: fake.apiBase, token: async () => 'test-token', dryRun: true, log: (line) => logged.push(line) });
    const before = fake.requests.length;
    const service = await dry.getService(ref);
    const wanted: Service = { ...service, traffic: [to('petcut-v2', 90), to('petcut-v4', 10, 'preview')] };
    expect(await dry.updateService(ref, wanted)).toEqual(wanted);
    await dry.deleteRevision(ref, 'petcut-v3');
    expect(fake.requests.slice(before)).toEqual([`GET /v2/${SERVICE}`]);
    expect(dry.calls).toEqual([
      `GET /v2/${SERVICE}`,
      `PATCH /v2/${SERVICE} (traffic: petcut-v2 90%, petcut-v4 10% tag preview; image ${BAD}, revision petcut-v4) [dry run: not sent]`,
      `DELETE /v2/${SERVICE}/revisions/petcut-v3 [dry run: not sent]`,
    ]);
    expect(logged).toEqual(dry.calls);
    expect((await client.getService(ref)).trafficStatuses).toEqual([{ type: REVISION, revision: 'petcut-v2', percent: 100 }]);
    expect((await client.listRevisions(ref)).map((r) => short(r.name))).toContain('petcut-v3');
  });
});
