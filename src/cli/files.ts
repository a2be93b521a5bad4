import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';

/** Extensions picked up when a folder is given; files named explicitly are tried whatever their name. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.heic', '.heif', '.gif', '.tif', '.tiff', '.avif']);

/** Expands files and folders (recursively) into a sorted list of files; missing paths are reported, not thrown. */
export async function expandInputs(inputs: readonly string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    const info = await stat(input).catch(() => undefined);
    if (!info) missing.push(input);
    else if (info.isDirectory()) files.push(...(await listImages(input)));
    else files.push(input);
  }
  return { files, missing };
}

async function listImages(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listImages(path)));
    else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(path);
  }
  return out;
}

