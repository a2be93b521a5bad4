import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { copyFile, readdir, readFile, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { PetcutError } from '../errors.js';
import type { ObjectInfo, ObjectStore, PutOptions } from './store.js';
import { makeDirs } from '../fsDirs.js';

/**
 * Objects on local disk under `root`: `<root>/<key>` holds the bytes and a
 * hidden sidecar `.<name>.meta.json` beside it holds content type and
 * metadata. Every write goes to a hidden `.tmp-*` file in the same directory
 * and is renamed into place, so a reader sees a whole file or none.
 *
 * Keys may not have segments starting with "." (this rules out "..", and it
 * keeps keys from colliding with sidecars and temp files), nor be absolute,
 * nor hold backslashes or empty segments: the key becomes a path, and these
 * are how a path escapes the root.
 *
 * The sidecar is renamed in before the bytes: a crash between the two leaves
 * either an invisible sidecar (first write) or new metadata beside the
 * previous bytes (overwrite). petcut writes each key once with fixed
 * metadata (a tier move writes a new key), so only the bytes need to be atomic.
 */
export interface FsStoreOptions {
  readonly root: string;
}

export interface FsStore extends ObjectStore {
  /** Deletes temp files and orphaned sidecars older than `olderThanMs` (leftovers of a crash); returns how many. */
  removeStaleFiles(olderThanMs?: number): Promise<number>;
}

interface Sidecar {
  readonly contentType: string;
  readonly metadata: Record<string, string>;
}

/** A temp file this old belongs to a writer that crashed: no put takes an hour. */
const STALE_MS = 60 * 60 * 1000;
const TEMP_PREFIX = '.tmp-';
const PROBE_BYTES = Buffer.alloc(4096, 0x2a);
const SIDECAR = /^\.(.+)\.meta\.json$/;
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function isSafeKey(key: string, isPrefix: boolean): boolean {
  if (isPrefix && key === '') return true;
  const segments = key.split('/');
  if (isPrefix && segments.at(-1) === '') segments.pop(); // 'a/b/' lists a directory
  return !isAbsolute(key) && !key.includes('\\') && !key.includes('\0') &&
    segments.every((segment) => segment !== '' && !segment.startsWith('.'));
}

/** Metadata keys are lower-cased on every backend because S3 stores them so. */
function lowerCaseKeys(metadata: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
}

function isMissing(error: unknown): boolean {
  return MISSING.has((error as NodeJS.ErrnoException).code ?? '');
}

function unavailable(error: unknown): never {
  if (error instanceof PetcutError) throw error;
  // The system's text (ENOSPC, the file's path) stays in the cause: the log has it, the client does not.
  const full = (error as NodeJS.ErrnoException).code === 'ENOSPC' || (error as NodeJS.ErrnoException).code === 'EDQUOT';
  throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', full ? 'Storage is full: retry later; nothing was stored.' : undefined, { cause: error });
}

function sidecarPath(path: string): string {
  return join(dirname(path), `.${path.slice(dirname(path).length + 1)}.meta.json`);
}

async function writeAtomically(path: string, data: Buffer | string): Promise<void> {
  const temp = join(dirname(path), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

async function readSidecar(path: string): Promise<Sidecar> {
  try {
    return JSON.parse(await readFile(sidecarPath(path), 'utf8')) as Sidecar;
  } catch (error) {
    // A file placed by hand has no sidecar; it is still an object.
    if (isMissing(error)) return { contentType: 'application/octet-stream', metadata: {} };
    throw error;
  }
}

/** Walks `dir` depth-first, returning data files' keys; removes crash leftovers older than `staleMs` on the way. */
async function walk(root: string, dir: string, staleMs: number, found: string[], removed: { count: number }): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(root, dir), { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const names = new Set(entries.map((entry) => entry.name));
  for (const entry of entries) {
    const key = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) await walk(root, key, staleMs, found, removed);
    else if (!entry.name.startsWith('.')) found.push(key);
    // A temp file, or a sidecar whose data file is gone (other dot files are not ours and stay).
    else if (entry.name.startsWith(TEMP_PREFIX) || !names.has(SIDECAR.exec(entry.name)?.[1] ?? entry.name)) {
      const path = join(root, key);
      const stats = await stat(path).catch(() => undefined);
      if (stats && Date.now() - stats.mtimeMs > staleMs && (await unlink(path).then(() => true, () => false))) removed.count++;
    }
  }
}

export function createFsStore(options: FsStoreOptions): FsStore {
  const root = resolve(options.root);
  const pathOf = (key: string, isPrefix = false): string => {
    if (!isSafeKey(key, isPrefix)) throw new PetcutError('PETCUT_E_BAD_REQUEST', `Invalid storage key: ${JSON.stringify(key)}`);
    return join(root, ...key.split('/'));
  };

  async function head(key: string): Promise<ObjectInfo | null> {
    const path = pathOf(key);
    try {
      const stats = await stat(path);
      if (!stats.isFile()) return null;
      const { contentType, metadata } = await readSidecar(path);
      return { key, size: stats.size, contentType, updated: stats.mtime, metadata };
    } catch (error) {
      return isMissing(error) ? null : unavailable(error);
    }
  }

  async function putSidecar(path: string, sidecar: Sidecar): Promise<void> {
    try {
      await writeAtomically(sidecarPath(path), JSON.stringify(sidecar));
    } catch (error) {
      // A delete may have pruned the directory between our mkdir and the write.
      if (!isMissing(error)) throw error;
      await makeDirs(dirname(path));
      await writeAtomically(sidecarPath(path), JSON.stringify(sidecar));
    }
  }

  return {
    name: 'fs',
    head,

    async put(key: string, data: Buffer, put: PutOptions): Promise<void> {
      const path = pathOf(key);
      try {
        await makeDirs(dirname(path));
        await putSidecar(path, { contentType: put.contentType, metadata: lowerCaseKeys(put.metadata) });
        await writeAtomically(path, data);
      } catch (error) {
        // Only on disk can a key clash with a directory ('a' vs 'a/b'): a caller's mistake, not an outage.
        const code = (error as NodeJS.ErrnoException).code;
        const rootIsUsable = await stat(root).then((s) => s.isDirectory(), () => false);
        if (rootIsUsable && (code === 'ENOTDIR' || code === 'EISDIR')) throw new PetcutError('PETCUT_E_BAD_REQUEST', `Key clashes with a directory: ${key}`);
        unavailable(error);
      }
    },

    async get(key: string) {
      const info = await head(key);
      if (!info) return null;
      try {
        // Read after head: a racing overwrite can only make the bytes newer, never partial.
        const data = await readFile(pathOf(key));
        return { ...info, size: data.length, data };
      } catch (error) {
        return isMissing(error) ? null : unavailable(error);
      }
    },

    async list(prefix: string): Promise<ObjectInfo[]> {
      pathOf(prefix, true);
      const dir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      const keys: string[] = [];
      try {
        await walk(root, dir, STALE_MS, keys, { count: 0 });
        const infos: ObjectInfo[] = [];
        // One at a time: local stat calls are fast and this bounds open file handles.
        for (const key of keys.filter((k) => k.startsWith(prefix) && isSafeKey(k, false)).sort()) {
          const info = await head(key);
          if (info) infos.push(info);
        }
        return infos;
      } catch (error) {
        return unavailable(error);
      }
    },

    async delete(key: string): Promise<void> {
      const path = pathOf(key);
      try {
        await unlink(path).catch((error: unknown) => { if (!isMissing(error)) throw error; });
        await unlink(sidecarPath(path)).catch((error: unknown) => { if (!isMissing(error)) throw error; });
        // Prune emptied directories so finished sessions leave nothing behind; rmdir refuses non-empty ones.
        for (let dir = dirname(path); dir.length > root.length && dir.startsWith(root); dir = dirname(dir)) {
          if (!(await rmdir(dir).then(() => true, () => false))) break;
        }
      } catch (error) {
        unavailable(error);
      }
    },

    async copy(from: string, to: string): Promise<void> {
      const source = pathOf(from);
      const target = pathOf(to);
      const temp = join(dirname(target), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
      try {
        await makeDirs(dirname(target));
        // Bytes first, into a temp file: a missing source fails here, before the target's sidecar is touched.
        await copyFile(source, temp); // copyFile does not keep the mtime: the copy's `updated` is now
        await putSidecar(target, await readSidecar(source));
        await rename(temp, target);
      } catch (error) {
        await unlink(temp).catch(() => undefined);
        if (isMissing(error) && !(await head(from))) throw new PetcutError('PETCUT_E_NOT_FOUND', `No object at ${from}`);
        unavailable(error);
      }
    },

    async ensureLifecycle() {
      return 'not-supported'; // local disk has no lifecycle: the service's expiry sweep deletes old objects
    },

    async ping(): Promise<void> {
      const probe = join(root, `${TEMP_PREFIX}ping-${randomBytes(4).toString('hex')}`); // swept like any temp if we die here
      // A real write: an empty file needs no data block, so it succeeds on a full disk; 4 KB does not.
      await makeDirs(root).then(() => writeFile(probe, PROBE_BYTES)).then(() => unlink(probe)).catch(async (error: unknown) => {
        await unlink(probe).catch(() => undefined);
        unavailable(error);
      });
    },

    async removeStaleFiles(olderThanMs = STALE_MS): Promise<number> {
      const removed = { count: 0 };
      await walk(root, '', olderThanMs, [], removed).catch(unavailable);
      return removed.count;
    },
  };
}
