import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const code = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * `mkdir -p` that always ends. Node 20's own `mkdir(path, { recursive: true })`
 * spins for ever, without yielding an error, when a parent exists but the child
 * cannot be made there (a data directory under /proc, some FUSE and network
 * file systems answer ENOENT for ever): a service configured with such a path
 * never started. Here every directory of the path is tried at most twice, and
 * the file system's own error comes back.
 */
export async function makeDirs(path: string): Promise<void> {
  const dir = resolve(path);
  try {
    await mkdir(dir);
    return;
  } catch (error) {
    if (code(error) === 'EEXIST') return;
    if (code(error) !== 'ENOENT') throw error;
  }
  const parent = dirname(dir);
  if (parent === dir) throw new Error(`cannot create ${dir}: the file system has no root here`);
  await makeDirs(parent);
  try {
    await mkdir(dir);
  } catch (error) {
    if (code(error) !== 'EEXIST') throw error;
  }
}

/** makeDirs for the few places that run before the event loop matters (opening the cost ledger, a run record). */
export function makeDirsSync(path: string): void {
  const dir = resolve(path);
  try {
    mkdirSync(dir);
    return;
  } catch (error) {
    if (code(error) === 'EEXIST') return;
    if (code(error) !== 'ENOENT') throw error;
  }
  const parent = dirname(dir);
  if (parent === dir) throw new Error(`cannot create ${dir}: the file system has no root here`);
  makeDirsSync(parent);
  try {
    mkdirSync(dir);
  } catch (error) {
    if (code(error) !== 'EEXIST') throw error;
  }
}

/** Writes through a temporary name beside the target and renames: a failed or interrupted write never leaves a partial file. */
export async function writeAtomic(path: string, data: Buffer | Uint8Array): Promise<void> {
  const temporary = `${path}.${randomUUID()}.partial`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
