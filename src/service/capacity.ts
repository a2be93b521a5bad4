import { PetcutError } from '../errors.js';
import { createPace } from './pace.js';
import type { Pace } from './pace.js';
import type { MemoryProbe, MemoryReading } from '../observability/memory.js';

/**
 * Admission control in front of the engine, decided before a request's body
 * is read: a slot per image (bounded queue), the bytes its upload may buffer
 * (bounded in total), a memory check, and a deadline: an image is admitted
 * only while it could be finished within `deadlineS` at the measured pace, so
 * overload turns into quick 503s (retried elsewhere) instead of admitted work
 * that waits past the SLO. The deadline counts the images handed to the
 * engine (`working`), not uploads still arriving: a body that trickles is not
 * ahead of anyone in the engine's queue, and it cannot hold its slot for long
 * (the upload pace floor, src/http/uploadPace.ts). A refused request gets a
 * 503 with a Retry-After from the measured drain rate; an accepted one is
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
  /** Bytes of request bodies all uploads in flight may hold together (unbounded when absent). */
  readonly uploadBytesMax?: number;
  /** Predicted wait + processing an admitted image may face, in seconds (0 or absent: no deadline). */
  readonly deadlineS?: number;
  /** Seconds one image takes before any is measured (the CPU figure). */
  readonly initialServiceS?: number;
  /**
   * Uploads one owner (a client address) may have in flight at once (absent:
   * no bound). Room held while a body arrives is room others wait for: one
   * address must not be able to hold all of it.
   */
  readonly perOwnerMax?: number;
}

export interface CapacityStatus {
  readonly inFlight: number;
  readonly concurrency: number;
  readonly queued: number;
  readonly queueMax: number;
  readonly memory: MemoryReading | undefined;
  readonly underPressure: boolean;
  /** Images handed to the engine (waiting for or in a worker); `inFlight` adds the uploads still being read. */
  readonly working: number;
  /** Upload bytes reserved now, and the cap. */
  readonly uploadBytes: number;
  readonly uploadBytesMax?: number;
  /** The measured seconds per image and images per second the engine drains. */
  readonly serviceS: number;
  readonly drainPerS: number;
  /** Images admitted at once while a mitigation caps it (src/mitigation/: memory pressure); absent: no cap. */
  readonly cap?: number;
}

/** Room held for one request: slots for its images and bytes for its body, given back as the work ends. */
export interface Reservation {
  /** Slots held for images not yet handed to the engine. */
  readonly images: number;
  /** One more image (a job's next file): its slot, after the same checks; throws an OverloadError. */
  addImage(): void;
  /** Makes sure `total` body bytes are held (a chunked body grows as it arrives); throws an OverloadError past the cap. */
  holdBytes(total: number): void;
  /** Hands one image's slot over to its work: the returned function gives it back. */
  takeImage(): () => void;
  /** Gives back everything still held (idempotent). */
  release(): void;
}

export interface Capacity {
  /**
   * Reserves slots and body bytes, or throws a 503 OverloadError (a 429 when
   * the owner already has its most uploads in flight); counted at once, so a
   * burst cannot overshoot.
   */
  reserve(need: { readonly images: number; readonly bytes: number; readonly owner?: string }): Reservation;
  /** Reserves room for `images` (no body bytes); call the returned release when the work is done. */
  admit(images?: number): () => void;
  /** Throws as admit would, without reserving. */
  check(images?: number): void;
  /** The engine finished one image in `seconds` (paces the deadline and Retry-After). */
  observe(seconds: number): void;
  status(): CapacityStatus;
  /**
   * Caps the images admitted at once (waiting ones included) below
   * concurrency + queueMax, or lifts the cap (undefined). Work already
   * admitted finishes; new work past the cap gets the usual 503.
   */
  limitTo(images: number | undefined): void;
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

const BYTES_STEP = 1024 * 1024;

export function createCapacity(options: CapacityOptions): Capacity {
  let memory: MemoryReading | undefined;
  let slots = 0;
  let working = 0;
  let bytes = 0;
  const owners = new Map<string, number>();
  const pace: Pace = createPace({ concurrency: options.concurrency, initialServiceS: options.initialServiceS ?? 3 });
  const refresh = async (): Promise<MemoryReading> => (memory = await options.probe());
  const timer = setInterval(() => void refresh().catch(() => undefined), 1000);
  timer.unref();
  void refresh().catch(() => undefined);

  const underPressure = (): boolean => memory !== undefined && memory.usedBytes > memory.limitBytes * options.memoryPressure;
  const configured = options.concurrency + options.queueMax;
  let cap: number | undefined;
  let limit = configured;

  /** Throws when `images` more images or `more` bytes would not fit; checks only, reserves nothing. */
  const refuse = (images: number, more: number): void => {
    if (images > 0 && slots + images > limit) {
      throw new OverloadError('PETCUT_E_OVERLOADED', pace.retryAfterS(slots + images - limit),
        `The service is busy (${slots} images in progress, room for ${limit}): retry after the time in Retry-After.`);
    }
    if (images > 0 && options.deadlineS && !pace.fits(working + images, options.deadlineS)) {
      const over = working + images - pace.admissible(options.deadlineS);
      throw new OverloadError('PETCUT_E_OVERLOADED', pace.retryAfterS(over),
        `The service is busy: a new photo would wait past ${options.deadlineS} s (${working} in the engine, ${pace.drainPerS().toFixed(2)} done per second). Retry after the time in Retry-After.`);
    }
    if (options.uploadBytesMax !== undefined && more > 0 && bytes + more > options.uploadBytesMax) {
      throw new OverloadError('PETCUT_E_OVERLOADED', options.retryAfterS,
        `The service is receiving too many uploads at once (${Math.round(bytes / 1048576)} MB in flight): retry after the time in Retry-After.`);
    }
    if (underPressure()) throw new OverloadError('PETCUT_E_MEMORY_PRESSURE', options.retryAfterS);
  };

  const reserve = (need: { readonly images: number; readonly bytes: number; readonly owner?: string }): Reservation => {
    const owner = need.owner;
    const owned = owner === undefined ? 0 : owners.get(owner) ?? 0;
    if (owner !== undefined && options.perOwnerMax !== undefined && owned >= options.perOwnerMax) {
      throw new PetcutError('PETCUT_E_RATE_LIMITED', `Too many uploads at once from this address (at most ${options.perOwnerMax}): wait for one to finish.`, { retryAfterS: options.retryAfterS });
    }
    refuse(need.images, need.bytes);
    slots += need.images;
    bytes += need.bytes;
    if (owner !== undefined) owners.set(owner, owned + 1);
    let ownerHeld = owner !== undefined;
    let held = need.images;
    let heldBytes = need.bytes;
    const reservation: Reservation = {
      get images() { return held; },
      addImage() {
        refuse(1, 0);
        slots += 1;
        held += 1;
      },
      holdBytes(total) {
        if (total <= heldBytes) return;
        // In steps of a megabyte: a body arriving in small chunks is not checked chunk by chunk.
        const more = Math.max(total - heldBytes, BYTES_STEP);
        refuse(0, more);
        bytes += more;
        heldBytes += more;
      },
      takeImage() {
        if (held <= 0) throw new Error('takeImage without a held slot');
        held -= 1;
        working += 1;
        let given = false;
        return () => {
          if (given) return;
          given = true;
          slots -= 1;
          working -= 1;
        };
      },
      release() {
        slots -= held;
        bytes -= heldBytes;
        held = 0;
        heldBytes = 0;
        if (ownerHeld && owner !== undefined) {
          ownerHeld = false;
          const left = (owners.get(owner) ?? 1) - 1;
          if (left > 0) owners.set(owner, left);
          else owners.delete(owner);
        }
      },
    };
    return reservation;
  };

  /** Room for work that starts at once (no upload to wait for): its slots count as working from the start. */
  const admit = (images = 1): (() => void) => {
    const reservation = reserve({ images, bytes: 0 });
    const taken = Array.from({ length: images }, () => reservation.takeImage());
    return () => taken.forEach((release) => release());
  };

  return {
    reserve,
    admit,
    check: (images = 1) => refuse(images, 0),
    limitTo(images) {
      cap = images === undefined ? undefined : Math.max(1, Math.floor(images));
      limit = cap === undefined ? configured : Math.min(configured, cap);
    },
    observe: (seconds) => pace.observe(seconds),
    status: () => ({
      inFlight: slots, working, concurrency: options.concurrency, queued: Math.max(0, slots - options.concurrency), queueMax: options.queueMax,
      memory, underPressure: underPressure(), uploadBytes: bytes, uploadBytesMax: options.uploadBytesMax,
      serviceS: pace.serviceS(), drainPerS: pace.drainPerS(), ...(cap !== undefined ? { cap } : {}),
    }),
    refresh,
    close: () => clearInterval(timer),
  };
}
