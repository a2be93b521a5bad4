import { platform, setPriority } from 'node:os';

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
