import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discJpeg, discScene } from './images.js';
import { childEnv } from './support/env.js';

const run = promisify(execFile);
const cli = new URL('../dist/cli/index.js', import.meta.url).pathname;

/** The CLI with none of the shell's petcut variables (support/env.ts), in the test's directory (so no .env is read). */
async function petcut(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { timeout: 120_000, cwd: dir, env: childEnv() });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-cli-'));
  await mkdir(join(dir, 'in'));
  await writeFile(join(dir, 'in', 'pet.jpg'), (await discJpeg(200, 150, [{ cx: 100, cy: 75, r: 45 }])).jpeg);
  await writeFile(join(dir, 'in', 'broken.jpg'), (await discJpeg(200, 150, [{ cx: 100, cy: 75, r: 45 }])).jpeg.subarray(0, 300));
  await writeFile(join(dir, 'in', 'notes.txt'), 'not an image, and not picked up from a folder');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('petcut remove', () => {
  it('--effect applies a print style (file named after it); a bad --effect-param names the parameter', async () => {
    const out = join(dir, 'styled');
    const styled = await petcut('remove', join(dir, 'in', 'pet.jpg'), '-o', out, '--effect', 'enhancedblackwhite', '--no-progress');
    expect(styled.code, styled.stderr).toBe(0);
    const { data, info } = await sharp(join(out, 'pet.enhancedblackwhite.png')).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    let opaque = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! < 250) continue;
      opaque++;
      expect(data[i]).toBe(data[i + 1]);
      expect(data[i + 1]).toBe(data[i + 2]);
    }
    expect(opaque).toBeGreaterThan(1000);
    const bad = await petcut('remove', join(dir, 'in', 'pet.jpg'), '-o', out, '--effect', 'popart', '--effect-param', 'nonsense=3');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/popart\.nonsense.*PETCUT_E_INVALID_OPTION/);
    const unknown = await petcut('remove', join(dir, 'in', 'pet.jpg'), '-o', out, '--effect', 'sepia-noir');
    expect(unknown.stderr).toMatch(/PETCUT_E_UNKNOWN_EFFECT/);
  });

  it('cuts out what it can, names each failure, exits non-zero, leaves no partial file', async () => {
    const out = join(dir, 'out');
    const result = await petcut('remove', join(dir, 'in'), '-o', out, '--format', 'webp', '--crop', '0.1');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/broken\.jpg: .*PETCUT_E_CORRUPT_IMAGE/);
    expect(result.stderr).toMatch(/1 done, 1 failed/);
    expect(await readdir(out)).toEqual(['pet.webp']);
    const meta = await sharp(join(out, 'pet.webp')).metadata();
    expect(meta.format).toBe('webp');
    expect(meta.width).toBeLessThan(120);
  });

  it('writes masks and JPEGs on a background, exit 0 when all succeed', async () => {
    const out = join(dir, 'masks');
    const mask = await petcut('remove', join(dir, 'in', 'pet.jpg'), '-o', out, '--mask');
    expect(mask.code).toBe(0);
    const jpeg = await petcut('remove', join(dir, 'in', 'pet.jpg'), '-o', out, '-f', 'jpeg', '-b', '#00ff00');
    expect(jpeg.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['pet.jpg', 'pet.mask.png']);
    const { data } = await sharp(join(out, 'pet.jpg')).raw().toBuffer({ resolveWithObject: true });
    expect(data[1]).toBeGreaterThan(230);
  });

  it('a bad flag value is a clear error', async () => {
    const result = await petcut('remove', join(dir, 'in', 'pet.jpg'), '-o', join(dir, 'x'), '--hint', 'left');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/hint/);
  });
});

describe('petcut eval', () => {
  it('scores cut-outs against masks and writes a CSV', async () => {
    const images = join(dir, 'eval', 'images');
    const masks = join(dir, 'eval', 'masks');
    await mkdir(images, { recursive: true });
    await mkdir(masks, { recursive: true });
    const disc = { cx: 110, cy: 80, r: 50 };
    await writeFile(join(images, 'a.jpg'), (await discJpeg(220, 160, [disc])).jpeg);
    const truth = discScene(220, 160, [disc]).truth.map((v) => v * 255);
    await sharp(Buffer.from(truth), { raw: { width: 220, height: 160, channels: 1 } }).png().toFile(join(masks, 'a.png'));
    const csv = join(dir, 'eval', 'out.csv');
    const result = await petcut('eval', '--images', images, '--masks', masks, '--csv', csv);
    expect(result.code).toBe(0);
    // The summary table is on stdout (progress on stderr): the set (named after the images folder), its n and mean IoU.
    expect(result.stdout).toMatch(/^images\s+all\s+1\s+0\.9\d+/m);
    const [header, row] = (await readFile(csv, 'utf8')).trim().split('\n');
    // The single-set columns stay first, so older readers keep working.
    expect(header).toBe('image,subject,iou,boundary_f,mae,ms,confidence,zoomed,set,pet_found,found');
    const cells = row!.split(',');
    expect(cells[0]).toBe('a.jpg');
    expect(Number(cells[2])).toBeGreaterThan(0.95);
    expect(Number(cells[3])).toBeGreaterThan(0.9);
  });

  it('exits 2 on a bad flag, naming it and what is allowed', async () => {
    const bad = await petcut('eval', '--images', join(dir, 'eval', 'images'), '--masks', join(dir, 'eval', 'masks'), '--subjects', 'dogs');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--subjects "dogs": use one of pets, largest-pet, point, all-salient');
    expect((await petcut('eval', '--manifest', join(dir, 'nowhere.tsv'))).code).toBe(2);
    expect((await petcut('eval', '--no-such-flag')).code).toBe(2);
  });
});

describe('petcut auth hash-key', () => {
  it('makes a key, shows it once, and prints the hash entry the service accepts', async () => {
    const result = await petcut('auth', 'hash-key', 'ops-alice');
    expect(result.code).toBe(0);
    const key = /key \(.*\): (pk_[A-Za-z0-9_-]{43})/.exec(result.stdout)?.[1];
    const hash = /PETCUT_OPERATOR_KEYS entry: ops-alice:([0-9a-f]{64})/.exec(result.stdout)?.[1];
    expect(key).toBeDefined();
    expect(hash).toBe(createHash('sha256').update(key!).digest('hex'));
    const { loadSecurityConfig } = await import('../src/security/config.js');
    const { matchOperatorKey } = await import('../src/security/apiKeys.js');
    expect(matchOperatorKey(key!, loadSecurityConfig({ PETCUT_OPERATOR_KEYS: `ops-alice:${hash}` }).operatorKeys)).toBe('ops-alice');
    const given = await petcut('auth', 'hash-key', 'bob', '--key', 'pk_given');
    expect(given.stdout).not.toContain('it is not stored');
    expect(given.stdout).toContain(`bob:${createHash('sha256').update('pk_given').digest('hex')}`);
    expect((await petcut('auth', 'hash-key', 'bad name!')).code).not.toBe(0);
  });
});
