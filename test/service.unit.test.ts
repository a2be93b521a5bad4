import { describe, expect, it } from 'vitest';
import { parseOutputOptions } from '../src/http/options.js';
import { createCapacity, OverloadError } from '../src/service/capacity.js';
import { createLru } from '../src/service/lru.js';
import { createMemoryProbe } from '../src/observability/memory.js';
import type { MemoryReading } from '../src/observability/memory.js';
import { createProgressTracker } from '../src/service/progress.js';

const reading = (usedBytes: number, limitBytes = 1000): MemoryReading => ({ usedBytes, limitBytes, source: 'configured', rssBytes: usedBytes });

describe('capacity', () => {
  it('admits by deadline at the measured pace, counting the engine\'s images, not uploads still arriving', () => {
    const capacity = createCapacity({ concurrency: 2, queueMax: 10, memoryPressure: 0.9, retryAfterS: 7, probe: async () => reading(0), deadlineS: 5 });
    capacity.observe(4);
    // 4 s an image, 2 at once: 0.5 per second. A third would wait 2 s + 4 s = 6 s > 5 s.
    const working = [capacity.admit(), capacity.admit()];
    expect(capacity.status()).toMatchObject({ working: 2, serviceS: 4, drainPerS: 0.5 });
    const refused = (() => { try { capacity.admit(); } catch (error) { return error as OverloadError; } return undefined; })();
    expect(refused?.code).toBe('PETCUT_E_OVERLOADED');
    expect(refused?.retryAfterS).toBe(2);
    // Uploads being read do not count as ahead of it: two reservations that have not handed their image over.
    working.forEach((release) => release());
    const reading1 = capacity.reserve({ images: 1, bytes: 0 });
    const reading2 = capacity.reserve({ images: 1, bytes: 0 });
    const reading3 = capacity.reserve({ images: 1, bytes: 0 });
    expect(capacity.status()).toMatchObject({ inFlight: 3, working: 0 });
    // Faster runs lower the estimate (moving average): now two more fit the deadline.
    for (let i = 0; i < 20; i++) capacity.observe(1);
    expect(capacity.status().serviceS).toBeLessThan(1.1);
    const taken = [reading1.takeImage(), reading2.takeImage(), reading3.takeImage()];
    expect(() => capacity.admit()).not.toThrow();
    taken.forEach((release) => release());
    [reading1, reading2, reading3].forEach((r) => r.release());
    capacity.close();
  });

  it('caps the bytes of uploads in flight: a chunked body holds more as it arrives, and gives it all back', () => {
    const MB = 1024 * 1024;
    const capacity = createCapacity({ concurrency: 2, queueMax: 10, memoryPressure: 0.9, retryAfterS: 3, probe: async () => reading(0), uploadBytesMax: 10 * MB });
    const declared = capacity.reserve({ images: 1, bytes: 6 * MB });
    expect(() => capacity.reserve({ images: 1, bytes: 5 * MB })).toThrow(expect.objectContaining({ code: 'PETCUT_E_OVERLOADED', retryAfterS: 3 }));
    const chunked = capacity.reserve({ images: 1, bytes: 0 });
    chunked.holdBytes(100);
    expect(capacity.status().uploadBytes).toBe(7 * MB);
    chunked.holdBytes(3 * MB);
    expect(capacity.status().uploadBytes).toBe(9 * MB);
    expect(() => chunked.holdBytes(5 * MB)).toThrow(expect.objectContaining({ code: 'PETCUT_E_OVERLOADED' }));
    expect(capacity.status().uploadBytes).toBe(9 * MB);
    declared.release();
    chunked.release();
    chunked.release();
    expect(capacity.status()).toMatchObject({ uploadBytes: 0, inFlight: 0 });
    capacity.close();
  });

  it('reserves synchronously: a burst cannot overshoot concurrency + queue', () => {
    const capacity = createCapacity({ concurrency: 2, queueMax: 1, memoryPressure: 0.9, retryAfterS: 7, probe: async () => reading(0) });
    const releases = [capacity.admit(), capacity.admit(), capacity.admit()];
    expect(capacity.status()).toMatchObject({ inFlight: 3, queued: 1 });
    let refused: unknown;
    try {
      capacity.admit();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(OverloadError);
    expect((refused as OverloadError).code).toBe('PETCUT_E_OVERLOADED');
    // From the drain rate (no run measured yet: the 3 s estimate, 2 workers): one image over drains in ceil(1 / (2/3)) = 2 s.
    expect((refused as OverloadError).retryAfterS).toBe(2);
    releases[0]!();
    releases[0]!(); // a second release of the same reservation is ignored
    expect(capacity.status().inFlight).toBe(2);
    expect(() => capacity.admit()).not.toThrow();
    expect(() => capacity.admit(2)).toThrow(OverloadError);
    capacity.close();
  });

  it('refuses new work under memory pressure, measured against the limit', async () => {
    let used = 950;
    const capacity = createCapacity({ concurrency: 2, queueMax: 4, memoryPressure: 0.9, retryAfterS: 3, probe: async () => reading(used) });
    await capacity.refresh();
    expect(capacity.status().underPressure).toBe(true);
    expect(() => capacity.admit()).toThrow(expect.objectContaining({ code: 'PETCUT_E_MEMORY_PRESSURE' }));
    used = 500;
    await capacity.refresh();
    expect(capacity.admit).not.toThrow();
    capacity.close();
  });
});

describe('memory probe', () => {
  it('reads the container limit (cgroup) or the configured one, never reporting more used than exists', async () => {
    const configured = await createMemoryProbe(512 * 1024 * 1024)();
    expect(configured.source).toBe('configured');
    expect(configured.limitBytes).toBe(512 * 1024 * 1024);
    expect(configured.usedBytes).toBe(configured.rssBytes);
    const auto = await createMemoryProbe()();
    expect(['cgroup-v2', 'cgroup-v1', 'host']).toContain(auto.source);
    expect(auto.limitBytes).toBeGreaterThan(0);
    expect(Number.isFinite(auto.limitBytes)).toBe(true);
    expect(auto.usedBytes).toBeGreaterThan(0);
  });
});

describe('lru', () => {
  it('evicts the least recently used past its byte bound and honours expiry', () => {
    const lru = createLru<string>(100);
    lru.set('a', 'A', 40, Date.now() + 60_000);
    lru.set('b', 'B', 40, Date.now() + 60_000);
    expect(lru.get('a')).toBe('A'); // a is now the most recent
    lru.set('c', 'C', 40, Date.now() + 60_000);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe('A');
    expect(lru.bytes).toBe(80);
    lru.set('big', 'X', 101, Date.now() + 60_000);
    expect(lru.get('big')).toBeUndefined();
    lru.set('old', 'O', 10, Date.now() - 1);
    expect(lru.get('old')).toBeUndefined();
    expect(lru.size).toBe(2);
  });
});

describe('progress', () => {
  it('percent never goes back within a job and ETA shrinks as stages pass', () => {
    const tracker = createProgressTracker(() => 2);
    const events = [];
    for (let file = 0; file < 2; file++) {
      const progress = tracker.start('job', file, 2, 2);
      events.push(progress.stage({ stage: 'cache' }), progress.stage({ stage: 'queued', position: 1 }), progress.stage({ stage: 'decode' }),
        progress.stage({ stage: 'segmentation' }), progress.stage({ stage: 'refine' }),
        progress.stage({ stage: 'effect', effect: 'color', index: 0, of: 2 }), progress.stage({ stage: 'encode', effect: 'color', index: 0, of: 2 }),
        progress.stage({ stage: 'effect', effect: 'color', index: 1, of: 2 }), progress.stage({ stage: 'encode', effect: 'color', index: 1, of: 2 }),
        progress.stage({ stage: 'store' }));
    }
    const percents = events.map((e) => (e.type === 'stage' ? e.percent : 100));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)).toBeLessThan(100);
    const etas = events.filter((e) => e.type === 'stage' && e.stage !== 'queued').map((e) => (e.type === 'stage' ? e.etaSeconds : 0));
    expect(etas).toEqual([...etas].sort((a, b) => b - a));
    const queued = events[1]!;
    expect(queued.type === 'stage' && queued.position).toBe(1);
  });
});

describe('output options', () => {
  it('reads text fields into output specs, one per effect', () => {
    const specs = parseOutputOptions({ format: 'jpg', quality: '80', size: 'preview', background: 'fff', crop: 'true', effects: 'color,COLOR' });
    expect(specs).toEqual([{ format: 'jpeg', quality: 80, size: 'preview', background: '#fff', crop: true, effect: 'color' }]);
    expect(parseOutputOptions({ size: '640', mask: '1' })).toEqual([{ size: 640, maskOnly: true, effect: 'color' }]);
  });

  it('names the bad option with a stable code', () => {
    expect(() => parseOutputOptions({ format: 'gif' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_INVALID_OPTION', message: expect.stringContaining('format') }));
    expect(() => parseOutputOptions({ quality: '0' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_INVALID_OPTION' }));
    expect(() => parseOutputOptions({ background: 'red' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_INVALID_OPTION' }));
    expect(() => parseOutputOptions({ colour: 'x' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_UNKNOWN_FIELD' }));
    expect(() => parseOutputOptions({ effects: 'no-such-effect' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_UNKNOWN_EFFECT' }));
  });
});

describe('result cache keys', () => {
  it('keys depend on pixels, model and canonical options; entries older than the expiry are misses', async () => {
    const { createResultCache } = await import('../src/service/cache.js');
    const { createFsStore } = await import('../src/storage/fsStore.js');
    const { MODELS, modelIdentity } = await import('../src/inference/models.js');
    const { mkdtemp, utimes } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = await mkdtemp(join(tmpdir(), 'petcut-cache-'));
    const store = createFsStore({ root });
    const identityOf = (name: string): string => modelIdentity(MODELS[name]!, MODELS[name]!.sha256!);
    const isnet = createResultCache(store, () => identityOf('isnet'), { days: 7, memoryBytes: 0 });
    const quint8 = createResultCache(store, () => identityOf('isnet-quint8'), { days: 7, memoryBytes: 0 });
    const pixels = 'a'.repeat(64);
    expect(isnet.pixelKey(pixels)).not.toBe(quint8.pixelKey(pixels));
    expect(isnet.pixelKey(pixels)).not.toBe(isnet.pixelKey('b'.repeat(64)));
    const key = isnet.pixelKey(pixels);
    expect(isnet.renderKey(key, { format: 'png', size: 'preview', effect: 'color' })).toBe(isnet.renderKey(key, { size: 'preview', quality: 90, format: 'png' }));
    expect(isnet.renderKey(key, { format: 'png' })).not.toBe(isnet.renderKey(key, { format: 'webp' }));
    expect(isnet.renderKey(key, { background: '#FFF' })).toBe(isnet.renderKey(key, { background: '#fff' }));
    const render = { key: isnet.renderKey(key, {}), data: Buffer.from('png bytes'), contentType: 'image/png', width: 3, height: 2, box: { x: 0, y: 0, width: 3, height: 2 } };
    await isnet.putRender(render);
    const fresh = createResultCache(store, () => identityOf('isnet'), { days: 7, memoryBytes: 0 });
    expect((await fresh.getRender(render.key))?.data.toString()).toBe('png bytes');
    const old = new Date(Date.now() - 8 * 86_400_000);
    await utimes(join(root, 'cache', 'render', render.key), old, old);
    expect(await fresh.getRender(render.key)).toBeUndefined();
    expect(fresh.stats()).toMatchObject({ hits: 1, misses: 1 });
  });
});
