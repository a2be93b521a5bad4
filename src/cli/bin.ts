#!/usr/bin/env node
/**
 * The `petcut` command's entry point. glibc gives every thread that mallocs
 * its own arena (up to 8 per core), and the engine's threads (ONNX Runtime's,
 * libvips', the workers') then hold freed image buffers in many of them: RSS
 * grows over hundreds of images. MALLOC_ARENA_MAX=2 keeps it flat (measured,
 * docs/performance.md), but glibc reads it only when the process starts, so
 * when it is unset this runs the command again in a child that has it (about
 * 40 ms, once). A value set by the user is kept; elsewhere than Linux (no
 * glibc) nothing changes. The service sets it where it starts (the image's
 * ENV, npm start).
 */
import { spawn } from 'node:child_process';

if (process.platform === 'linux' && process.env.MALLOC_ARENA_MAX === undefined) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, MALLOC_ARENA_MAX: '2' } });
  // Ctrl-C reaches both (one process group); a signal sent to this process alone is passed on.
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  process.on('SIGINT', () => undefined);
  child.on('exit', (code, signal) => {
    if (!signal) process.exit(code ?? 1);
    // Ended by a signal: end the same way (the listeners above would catch it otherwise).
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
} else {
  await import('./index.js');
}
