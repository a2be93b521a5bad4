import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDotEnv } from '../src/config.js';
import { childEnv } from './support/env.js';

/**
 * What a newcomer runs first (issue #13): `petcut demo-photo` gives a photo
 * to try when there is none at hand (no ../shared on a fresh clone), and a
 * `.env` in the working directory configures the service and the CLI.
 */
const run = promisify(execFile);
const cli = new URL('../dist/cli/index.js', import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-newcomer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('petcut demo-photo', () => {
  it('writes a JPEG of a pet on a background, which the CLI then cuts out to the pet', async () => {
    const photo = join(dir, 'pet.jpg');
    await run(process.execPath, [cli, 'demo-photo', photo], { cwd: dir, env: childEnv() });
    const meta = await sharp(photo).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 1024, height: 768 });
    await run(process.execPath, [cli, 'remove', photo, '-o', join(dir, 'out')], { cwd: dir, env: childEnv({ PETCUT_DEVICE: 'cpu' }) });
    const { data, info } = await sharp(join(dir, 'out', 'pet.png')).extractChannel(3).raw().toBuffer({ resolveWithObject: true });
    const opaque = data.filter((a) => a >= 128).length / (info.width * info.height);
    // The drawn cat covers about a sixth of the frame; the wall and floor are gone.
    expect(opaque).toBeGreaterThan(0.08);
    expect(opaque).toBeLessThan(0.4);
    // Its middle (the cat's belly) is kept, a corner (the wall) is not.
    expect(data[Math.round(info.height * 0.6) * info.width + info.width / 2]).toBeGreaterThan(200);
    expect(data[10 * info.width + 10]).toBeLessThan(30);
  });
});

describe('.env', () => {
  it('is read into the environment when present; what the environment already holds wins', async () => {
    const file = join(dir, '.env');
    await writeFile(file, 'PETCUT_TEST_DOTENV_A=from-file\nPETCUT_TEST_DOTENV_B=from-file\n');
    process.env.PETCUT_TEST_DOTENV_B = 'from-env';
    expect(loadDotEnv(file)).toBe(file);
    expect(process.env.PETCUT_TEST_DOTENV_A).toBe('from-file');
    expect(process.env.PETCUT_TEST_DOTENV_B).toBe('from-env');
    expect(loadDotEnv(join(dir, 'absent.env'))).toBeUndefined();
    delete process.env.PETCUT_TEST_DOTENV_A;
    delete process.env.PETCUT_TEST_DOTENV_B;
  });

  it('the CLI reads .env from its working directory (a bad value there is named like any other)', async () => {
    const work = await mkdtemp(join(dir, 'cwd-'));
    await writeFile(join(work, '.env'), 'PETCUT_MAX_PIXELS=lots\n');
    // childEnv(): a PETCUT_MAX_PIXELS in the shell would win over the .env and hide what is tested.
    const failed = await run(process.execPath, [cli, 'model', 'prepare'], { cwd: work, env: childEnv() }).then(() => undefined, (error: { stderr: string; code: number }) => error);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/PETCUT_MAX_PIXELS/);
    expect(await readFile(join(work, '.env'), 'utf8')).toContain('lots');
  });
});
