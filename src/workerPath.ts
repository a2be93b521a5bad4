import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PetcutError } from './errors.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Path of a worker script given relative to src/ (e.g. 'inference/worker.js').
 * Compiled, it sits beside this module. Under the test runner this module is
 * loaded from src/ as TypeScript, which a worker thread cannot load, so the
 * compiled copy in dist/ is used (`npm test` builds first).
 */
export function workerPath(script: string): string {
  const beside = join(here, script);
  if (existsSync(beside)) return beside;
  const compiled = join(here, '..', 'dist', relative('.', script));
  if (existsSync(compiled)) return compiled;
  throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Worker script ${script} is not built: run \`npm run build\`.`);
}
