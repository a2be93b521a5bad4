import { existsSync } from 'node:fs';
import { platform, setPriority } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PetcutError } from '../errors.js';

/**
 * What every worker thread of the engine needs: where its compiled script is,
 * and a lower priority than the main thread. Here, in the lowest room that
 * starts threads (the inference worker), so the engine's pipeline workers use
 * it without an arrow pointing up.
 */
const sourceRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Path of a worker script given relative to src/ (e.g. 'inference/worker.js').
 * Compiled, it sits in dist/ beside the rest. Under the test runner this module
 * is loaded from src/ as TypeScript, which a worker thread cannot load, so the
 * compiled copy in dist/ is used (`npm test` builds first).
 */
export function workerPath(script: string): string {
  const beside = join(sourceRoot, script);
  if (existsSync(beside)) return beside;
  const compiled = join(sourceRoot, '..', 'dist', relative('.', script));
  if (existsSync(compiled)) return compiled;
  throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Worker script ${script} is not built: run \`npm run build\`.`);
}

/**
 * Lowers the calling worker thread's scheduling priority (nice +10). On Linux
 * `setpriority(PRIO_PROCESS, 0)` applies to the calling thread only, and the
 * threads it starts later (ONNX Runtime's pool, libvips') inherit it. So when
 * the cores are saturated by images, the main thread (HTTP parsing, health
 * checks, sockets) still gets a core at once; when it is idle, the workers
 * lose nothing. Elsewhere the call would renice the whole process: skipped.
 */
export function yieldToMainThread(): void {
  if (platform() !== 'linux') return;
  try {
    setPriority(10);
  } catch {
    // Not permitted in this container: run at the normal priority.
  }
}
