#!/usr/bin/env node
/**
 * The service's entry point: reads config, starts loading the model, listens.
 * Everything else is built by createApp().
 */
import { createEngine } from './engine/index.js';
import { isPetcutError } from './errors.js';
import { loadDotEnv, loadServiceConfig } from './config.js';

async function main(): Promise<void> {
  const envFile = loadDotEnv();
  const config = loadServiceConfig();
  // Loaded only when asked for: without an OTLP endpoint not one OpenTelemetry module is imported.
  // Started before the engine: its instrumentation must be in place before the modules it patches load.
  const tracing = tracingWanted(process.env) ? (await import('./observability/tracing.js')).startTracing() : undefined;
  // Loading starts now, in its own threads, and the rest of the service's modules (the HTTP stack,
  // the storage clients: about 0.3 s here) load on this thread meanwhile; the app listens at once:
  // /healthz answers while the model loads, /readyz turns ready when it has.
  const early: string[] = [];
  let log = (message: string): void => void early.push(message);
  const engine = loading = createEngine({ config: config.engine, pipelines: config.concurrency, log: (message) => log(message) });
  // A model that fails to load is createApp's to report (/readyz and the log), not an unhandled rejection meanwhile.
  engine.catch(() => undefined);
  const [{ createApp }, { createStore }, { recordRun }] = await Promise.all([import('./app.js'), import('./storage/index.js'), import('./observability/runRecord.js')]);
  const store = createStore(config.storage);
  const app = await createApp(config, { engine, store, tracing });
  log = (message) => app.log.info(message);
  early.forEach(log);
  // The restart KPI's trail (RUNBOOK.md, PetcutRestartLoop): every start, and every exit with how long the
  // process lived. A crash logs its exit code after the error; a SIGKILL (out of memory) logs no exit at all.
  // On a disk that outlives the process (not Cloud Run's), the previous run's fate too (src/observability/runRecord.ts).
  const run = recordRun(config.storage.root ?? 'data', config.build.revision);
  app.log.info({ revision: config.build.revision, version: config.build.version, pid: process.pid, ...(run.previous ? { previousRun: run.previous } : {}) }, 'process started');
  process.once('exit', (code) => {
    app.log.info({ code, uptimeS: Math.round(process.uptime()), revision: config.build.revision }, 'process exit');
    run.exited(code);
  });
  if (envFile) app.log.info({ file: envFile }, 'configuration read from .env (the environment wins where both set a variable)');
  engine.then((loaded) => {
    app.log.info({ model: loaded.model.name, device: loaded.runtime.device, reason: loaded.runtime.deviceReason, loadMs: Math.round(loaded.readyMs) }, 'model loaded');
    const fallback = loaded.runtime.fallback;
    // One line an operator can act on (docs/gpu.md); also counted (petcut_device_fallbacks_total) and shown in /health.
    if (fallback) app.log.warn({ fallback, requested: loaded.runtime.requestedDevice }, `running on the CPU, not the GPU (${fallback.reason}: ${fallback.detail}): ${FALLBACK_HINT[fallback.reason]}; PETCUT_DEVICE=cpu says the CPU is meant, PETCUT_DEVICE=cuda refuses to start without the GPU`);
  }, (error: unknown) => app.log.error({ err: error }, 'model failed to load'));
  if (config.lifecycle === 'apply') {
    app.applyLifecycle().catch((error: unknown) => app.log.warn({ err: error }, 'bucket lifecycle could not be checked'));
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app.log.info({ signal, deadlineS: config.shutdownTimeoutMs / 1000, uptimeS: Math.round(process.uptime()) }, 'shutting down: draining in-flight work');
      // The last line of defence: whatever hangs, the process is gone before the platform's SIGKILL.
      setTimeout(() => {
        app.log.error('shutdown did not finish within its deadline: ending the process');
        endNow();
      }, config.shutdownTimeoutMs + 500).unref();
      // The batch of spans goes out last, with the spans of the drained work; a collector that is down does not fail the exit.
      const flushTraces = (): Promise<void> | undefined => tracing?.shutdown().catch((error: unknown) => app.log.warn({ err: error }, 'traces not flushed'));
      void app.shutdown().then(async ({ clean }) => {
        await flushTraces();
        if (clean) process.exit(0);
        else endNow();
      }, (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
    });
  }
  await app.listen({ port: config.port, host: config.host });
}

/** What to check when PETCUT_DEVICE=auto wanted the GPU and got the CPU (docs/gpu.md). */
const FALLBACK_HINT = {
  unavailable: 'check that onnxruntime-node was installed with its CUDA provider (ONNXRUNTIME_NODE_INSTALL=cuda12, the gpu image) and that the NVIDIA device is passed in (nvidia-smi)',
  failed: 'check the CUDA 12 and cuDNN 9 libraries on the library path and the driver (nvidia-smi); the detail is ONNX Runtime\'s error',
} as const;

/**
 * Ends the process while a model run or a libvips operation is still inside
 * native code: exit() would run its atexit teardown under it and abort
 * ("terminate called ... Napi::Error", code 134); SIGKILL ends it at once.
 */
function endNow(): void {
  process.kill(process.pid, 'SIGKILL');
}

/** The SDK's own switches, read before loading it: an OTLP endpoint, and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none. */
function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return Boolean(endpoint) && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true' && env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() !== 'none';
}

/** The engine once it started loading: a start-up that fails after that closes it before exiting (an exit while ONNX Runtime loads aborts the process). */
let loading: Promise<{ close(waitMs?: number): Promise<boolean> }> | undefined;

main().catch(async (error: unknown) => {
  console.error(isPetcutError(error) ? error.message : error);
  await loading?.then((engine) => engine.close(5000), () => undefined);
  process.exit(1);
});
