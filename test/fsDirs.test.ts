// makeDirs: `mkdir -p` that ends. Node 20's recursive mkdir spins for ever under
// /proc (the parent exists, the child can never be made): a service whose data
// directory was there never started, and a rollout's candidate never got ready.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirs, makeDirsSync } from '../src/fsDirs.js';
import { createFsStore } from '../src/storage/fsStore.js';

const dir = await mkdtemp(join(tmpdir(), 'petcut-dirs-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('makeDirs', () => {
  it('creates every missing level and accepts one that exists', async () => {
    const deep = join(dir, 'a', 'b', 'c');
    await makeDirs(deep);
    expect((await stat(deep)).isDirectory()).toBe(true);
    await makeDirs(deep);
    await makeDirs(join(dir, 'a'));
    expect((await stat(join(dir, 'a', 'b'))).isDirectory()).toBe(true);
  });

  it('gives the file system error where a directory cannot be made under /proc, instead of spinning', async () => {
    await expect(makeDirs('/proc/petcut-cannot-write-here/sessions')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives ENOTDIR when a file stands where a directory should be', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await expect(makeDirs(join(dir, 'file', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it('a local store rooted under /proc reports itself unavailable and refuses writes, promptly', async () => {
    const store = createFsStore({ root: '/proc/petcut-cannot-write-here' });
    await expect(store.ping()).rejects.toMatchObject({ code: 'PETCUT_E_STORAGE_UNAVAILABLE' });
    await expect(store.put('sessions/x/a.png', Buffer.from('x'), { contentType: 'image/png' })).rejects.toMatchObject({ code: 'PETCUT_E_STORAGE_UNAVAILABLE' });
  });
});

describe('makeDirsSync', () => {
  it('creates nested directories and gives ENOENT under /proc instead of spinning', () => {
    const deep = join(dir, 's', 't');
    makeDirsSync(deep);
    makeDirsSync(deep);
    let thrown: unknown;
    try {
      makeDirsSync('/proc/petcut-cannot-write-here/cost');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'ENOENT' });
  });
});
