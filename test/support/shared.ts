import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * ../shared beside the repository: real photos and evaluation sets that are
 * not in the repo. Where it is absent, tests that need it skip with a
 * message (a fresh clone still runs the rest); under CI=true its absence is
 * an error, so that CI never passes by skipping them.
 */
export const SHARED = fileURLToPath(new URL('../../../shared', import.meta.url));

/** Whether every part (paths under ../shared) is present; throws under CI=true when one is not. */
export function sharedPresent(...parts: string[]): boolean {
  const missing = parts.map((part) => join(SHARED, part)).filter((path) => !existsSync(path));
  if (missing.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`../shared is missing: CI needs it beside the repository (not found: ${missing.join(', ')})`);
  console.warn(`skipping tests on ../shared: not found: ${missing.join(', ')}`);
  return false;
}

/** A path under ../shared. */
export const sharedPath = (...parts: string[]): string => join(SHARED, ...parts);
