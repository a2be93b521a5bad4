import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';

export interface EvalPair { readonly image: string; readonly mask: string; readonly subject: string }

/** Image/mask pairs from two folders matched by base name. */
export async function pairsFromFolders(images: string, masks: string): Promise<EvalPair[]> {
  const maskFiles = new Map<string, string>();
  for (const name of await readdir(masks)) maskFiles.set(basename(name, extname(name)), join(masks, name));
  const pairs: EvalPair[] = [];
  for (const name of (await readdir(images)).sort()) {
    const mask = maskFiles.get(basename(name, extname(name)));
    if (mask) pairs.push({ image: join(images, name), mask, subject: '' });
  }
  return pairs;
}

/** Pairs from a TSV manifest with `image` and `mask` columns (and optionally `subject`), paths relative to it. */
export async function pairsFromManifest(manifest: string): Promise<EvalPair[]> {
  const lines = (await readFile(manifest, 'utf8')).split(/\r?\n/).filter((line) => line.trim() !== '');
  const header = lines.shift()?.split('\t') ?? [];
  const column = (name: string): number => header.indexOf(name);
  const [imageAt, maskAt, subjectAt] = [column('image'), column('mask'), column('subject')];
  if (imageAt < 0 || maskAt < 0) throw new Error(`${manifest}: needs "image" and "mask" columns`);
  const base = dirname(resolve(manifest));
  return lines.map((line) => {
    const cells = line.split('\t');
    return { image: join(base, cells[imageAt] ?? ''), mask: join(base, cells[maskAt] ?? ''), subject: subjectAt >= 0 ? cells[subjectAt] ?? '' : '' };
  });
}
