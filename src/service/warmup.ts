import sharp from 'sharp';
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
    // 64x64 is enough: the model always runs at its input size, the rest is cheap.
    const tiny = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 120, b: 60 } } }).png().toBuffer();
    await loaded.process(tiny, { outputs: [{ format: 'png' }] });
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
