import { warmupPhoto } from '../image/sample.js';
import type { EngineHandle } from './engineHandle.js';

/**
 * POST /warmup: waits for the model (already loading since start-up), then
 * runs one tiny real inference. Concurrent calls share one run; once warm,
 * it answers at once.
 */
export interface WarmupResult {
  readonly warm: true;
  /** True when this call did nothing because an earlier one already ran. */
  readonly alreadyWarm: boolean;
  readonly ms: number;
}

export interface Warmup {
  run(): Promise<WarmupResult>;
  isWarm(): boolean;
}

export function createWarmup(engine: EngineHandle): Warmup {
  let running: Promise<void> | undefined;
  let warm = false;
  const once = async (): Promise<void> => {
    const loaded = await engine.ready;
    await loaded.process(await warmupPhoto(), { outputs: [{ format: 'png' }] });
    warm = true;
  };
  return {
    async run() {
      const started = performance.now();
      if (warm) return { warm: true, alreadyWarm: true, ms: performance.now() - started };
      running ??= once().finally(() => (running = undefined));
      await running;
      return { warm: true, alreadyWarm: false, ms: performance.now() - started };
    },
    isWarm: () => warm,
  };
}
