import { PetcutError } from '../errors.js';
import type { MemoryProbe, MemoryReading } from './memory.js';

/**
 * Admission control in front of the engine: a bounded queue and a memory
 * check. A refused request gets a 503 with Retry-After; an accepted one is
 * never dropped for lack of room later.
 */
export interface CapacityOptions {
  /** Images processed at once (the engine's pipeline workers). */
  readonly concurrency: number;
  /** Images allowed to wait beyond those being processed. */
  readonly queueMax: number;
  /** Share of the memory limit above which new work is refused. */
  readonly memoryPressure: number;
  readonly retryAfterS: number;
  readonly probe: MemoryProbe;
}

export interface CapacityStatus {
  readonly inFlight: number;
  readonly concurrency: number;
  readonly queued: number;
  readonly queueMax: number;
  readonly memory: MemoryReading | undefined;
  readonly underPressure: boolean;
}

export interface Capacity {
  /**
   * Reserves room for `images` more, or throws a 503 OverloadError. The
   * reservation is counted at once (before any await), so a burst cannot
   * overshoot the bound; call the returned release when the work is done.
   */
  admit(images?: number): () => void;
  /** Throws as admit would, without reserving: checked before an upload is read into memory. */
  check(images?: number): void;
  status(): CapacityStatus;
  /** Refreshes the memory reading (also done every second in the background). */
  refresh(): Promise<MemoryReading>;
  close(): void;
}

export class OverloadError extends PetcutError {
  declare readonly retryAfterS: number;
  constructor(code: 'PETCUT_E_OVERLOADED' | 'PETCUT_E_MEMORY_PRESSURE' | 'PETCUT_E_NOT_READY' | 'PETCUT_E_SHUTTING_DOWN', retryAfterS: number, message?: string) {
    super(code, message, { retryAfterS });
  }
}

export function createCapacity(options: CapacityOptions): Capacity {
  let memory: MemoryReading | undefined;
  let reserved = 0;
  const refresh = async (): Promise<MemoryReading> => (memory = await options.probe());
  const timer = setInterval(() => void refresh().catch(() => undefined), 1000);
  timer.unref();
  void refresh().catch(() => undefined);

  const underPressure = (): boolean => memory !== undefined && memory.usedBytes > memory.limitBytes * options.memoryPressure;
  const admit = (images = 1): (() => void) => {
    const limit = options.concurrency + options.queueMax;
    if (reserved + images > limit) {
      throw new OverloadError('PETCUT_E_OVERLOADED', options.retryAfterS,
        `The service is busy (${reserved} images in progress, room for ${limit}): retry after ${options.retryAfterS} s.`);
    }
    if (underPressure()) {
      throw new OverloadError('PETCUT_E_MEMORY_PRESSURE', options.retryAfterS);
    }
    reserved += images;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      reserved -= images;
    };
  };

  return {
    admit,
    check: (images = 1) => admit(images)(),
    status() {
      const inFlight = reserved;
      return {
        inFlight,
        concurrency: options.concurrency,
        queued: Math.max(0, inFlight - options.concurrency),
        queueMax: options.queueMax,
        memory,
        underPressure: underPressure(),
      };
    },
    refresh,
    close: () => clearInterval(timer),
  };
}
