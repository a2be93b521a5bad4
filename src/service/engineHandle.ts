import type { Engine } from '../engine/index.js';
import { OverloadError } from './capacity.js';

/**
 * The engine as the service sees it: loading at start-up (the app listens
 * at once so /healthz answers), then ready; requests before that get a 503.
 */
export interface EngineHandle {
  /** The engine, or a 503 PETCUT_E_NOT_READY while the model loads. */
  require(): Engine;
  current(): Engine | undefined;
  readonly ready: Promise<Engine>;
  /** Set when loading failed (the service stays up and reports it in /health). */
  failure(): Error | undefined;
}

export function createEngineHandle(loading: Engine | Promise<Engine>, retryAfterS: number): EngineHandle {
  let engine: Engine | undefined;
  let failed: Error | undefined;
  const ready = Promise.resolve(loading).then(
    (loaded) => (engine = loaded),
    (error: unknown) => {
      failed = error instanceof Error ? error : new Error(String(error));
      throw failed;
    },
  );
  ready.catch(() => undefined);
  return {
    require() {
      if (engine) return engine;
      if (failed) throw new OverloadError('PETCUT_E_NOT_READY', retryAfterS, `The model failed to load: ${failed.message}`);
      throw new OverloadError('PETCUT_E_NOT_READY', retryAfterS);
    },
    current: () => engine,
    ready,
    failure: () => failed,
  };
}
