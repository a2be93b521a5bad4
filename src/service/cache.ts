import { createHash } from 'node:crypto';
import type { Box } from '../image/types.js';
import type { OutputSpec, SubjectFacts } from '../engine/index.js';

export type { SubjectFacts } from '../engine/index.js';
import type { ObjectStore } from '../storage/store.js';
import { createLru } from './lru.js';
import { formatSubjects, parseSubjects, selectionKey } from './selection.js';
import type { SubjectSelection } from './selection.js';

/**
 * The content-addressed cache of cut-outs and renders, on the configured
 * store, with a byte-bounded memory LRU in front.
 *
 * - `cache/alias/<sha256 of the upload's bytes>[.<selection hash>]`: the cut-out those bytes decode to under that selection;
 * - `cache/cutout/<pixel key>.png`: the full-resolution RGBA cut-out (the master);
 * - `cache/render/<render key>`: one encoded output.
 *
 * The pixel key hashes the oriented, decoded pixels with the model, the
 * pipeline version and the subject selection (which subjects are kept: the
 * cut-out depends on it), never the file name or bytes alone (lesson 9): the
 * same photo re-saved with other metadata maps to the same cut-out, and
 * another effect of the same photo and selection renders from it. Entries expire
 * after `days` (lifecycle rules on buckets, the sweep on local disk).
 */
// Bump when segmentation or rendering changes what a key's bytes look like.
// 2: pet finding (#18) is the default selection; keys include the selection.
const PIPELINE_VERSION = 2;
export const CACHE_PREFIX = 'cache/';

export interface Alias {
  readonly pixelKey: string;
  readonly facts: SubjectFacts;
  /** The model identity the pixel key was made under: an alias from another model is a miss. */
  readonly model?: string;
  /** The pipeline version it was made under: an alias from an older pipeline (its pixel key, its facts) is a miss. */
  readonly pipeline?: number;
}

export interface CachedRender {
  readonly key: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly box: Box | null;
}

export interface ResultCache {
  bytesKey(input: Buffer): Promise<string>;
  /** The pixel key an upload's bytes were seen to decode to (and what was found there), if known. */
  alias(bytesKey: string, selection?: SubjectSelection): Promise<Alias | undefined>;
  saveAlias(bytesKey: string, alias: Alias, selection?: SubjectSelection): Promise<void>;
  /** Default selection: `pets`, people dropped. */
  pixelKey(pixelHash: string, selection?: SubjectSelection): string;
  renderKey(pixelKey: string, spec: OutputSpec): string;
  getRender(renderKey: string): Promise<CachedRender | undefined>;
  putRender(render: CachedRender): Promise<void>;
  getMaster(pixelKey: string): Promise<{ data: Buffer; facts: SubjectFacts } | undefined>;
  putMaster(pixelKey: string, data: Buffer, facts: SubjectFacts): Promise<void>;
  stats(): { hits: number; misses: number; memoryBytes: number; memoryEntries: number };
}

/** `modelIdentity`: the loaded model's identity (Engine.modelIdentity); keys are only made once a model is loaded. */
export function createResultCache(store: ObjectStore, modelIdentity: () => string, options: { days: number; memoryBytes: number }): ResultCache {
  const ttlMs = options.days * 86_400_000;
  const memory = createLru<CachedRender | Alias>(options.memoryBytes);
  let hits = 0, misses = 0;
  const fresh = (updated: Date): boolean => Date.now() - updated.getTime() < ttlMs;
  const count = <T>(value: T | undefined): T | undefined => {
    if (value === undefined) misses++;
    else hits++;
    return value;
  };

  return {
    async bytesKey(input) {
      // WebCrypto digests on the libuv pool: a 30 MB upload never blocks the event loop.
      const digest = await crypto.subtle.digest('SHA-256', input);
      return Buffer.from(digest).toString('hex');
    },
    async alias(bytesKey, selection) {
      const key = aliasKey(bytesKey, selection);
      const current = modelIdentity();
      const known = memory.get(key);
      if (known && 'pixelKey' in known) return known.model === current && known.pipeline === PIPELINE_VERSION ? known : undefined;
      const stored = await store.get(key);
      if (!stored || !fresh(stored.updated)) return undefined;
      const alias = JSON.parse(stored.data.toString('utf8')) as Alias;
      // The same bytes under another model (its file replaced) decode to the same pixels but not the same cut-out.
      if (alias.model !== current || alias.pipeline !== PIPELINE_VERSION) return undefined;
      memory.set(key, alias, 400, stored.updated.getTime() + ttlMs);
      return alias;
    },
    async saveAlias(bytesKey, alias, selection) {
      const key = aliasKey(bytesKey, selection);
      const entry = { ...alias, model: modelIdentity(), pipeline: PIPELINE_VERSION };
      memory.set(key, entry, 400, Date.now() + ttlMs);
      await store.put(key, Buffer.from(JSON.stringify(entry)), { contentType: 'application/json' });
    },
    pixelKey: (pixelHash, selection) => sha256(`v${PIPELINE_VERSION}|${modelIdentity()}|${pixelHash}|${selectionKey(selection)}`),
    renderKey: (pixelKey, spec) => sha256(`${pixelKey}|${canonical(spec)}`),
    async getRender(renderKey) {
      const key = `${CACHE_PREFIX}render/${renderKey}`;
      const known = memory.get(key);
      if (known && 'data' in known) return count(known);
      const stored = await store.get(key);
      if (!stored || !fresh(stored.updated)) return count(undefined);
      const render: CachedRender = {
        key: renderKey,
        data: stored.data,
        contentType: stored.contentType,
        width: Number(stored.metadata.width),
        height: Number(stored.metadata.height),
        box: parseBox(stored.metadata.box),
      };
      memory.set(key, render, render.data.length, stored.updated.getTime() + ttlMs);
      return count(render);
    },
    async putRender(render) {
      const key = `${CACHE_PREFIX}render/${render.key}`;
      memory.set(key, render, render.data.length, Date.now() + ttlMs);
      await store.put(key, render.data, {
        contentType: render.contentType,
        metadata: { width: String(render.width), height: String(render.height), box: formatBox(render.box) },
      });
    },
    async getMaster(pixelKey) {
      const stored = await store.get(`${CACHE_PREFIX}cutout/${pixelKey}.png`);
      if (!stored || !fresh(stored.updated)) return undefined;
      const m = stored.metadata;
      return {
        data: stored.data,
        facts: {
          box: parseBox(m.box), confidence: Number(m.confidence), zoomed: m.zoomed === 'true', sourceWidth: Number(m.width), sourceHeight: Number(m.height),
          // Absent on entries made before pet finding.
          ...optional('subjects', parseSubjects(m.subjects)),
          ...optional('petFound', m.petfound === 'true' ? true : m.petfound === 'false' ? false : undefined),
        },
      };
    },
    async putMaster(pixelKey, data, facts) {
      await store.put(`${CACHE_PREFIX}cutout/${pixelKey}.png`, data, {
        contentType: 'image/png',
        metadata: {
          box: formatBox(facts.box), confidence: String(facts.confidence), zoomed: String(facts.zoomed), width: String(facts.sourceWidth), height: String(facts.sourceHeight),
          // Small by construction: at most MAX_SUBJECTS compact rows (boundedFacts).
          ...optional('subjects', formatSubjects(facts.subjects)),
          // Lower case: S3 lower-cases metadata keys.
          ...optional('petfound', facts.petFound === undefined ? undefined : String(facts.petFound)),
        },
      });
    },
    stats: () => ({ hits, misses, memoryBytes: memory.bytes, memoryEntries: memory.size }),
  };
}

/** The default selection's alias is the bare bytes key (what most uploads ask); another selection's has its hash appended. */
function aliasKey(bytesKey: string, selection: SubjectSelection | undefined): string {
  const chosen = selectionKey(selection);
  return `${CACHE_PREFIX}alias/${bytesKey}${chosen === selectionKey() ? '' : `.${sha256(chosen).slice(0, 16)}`}`;
}

const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Options in a fixed key order, defaults spelled out, so equal requests share a key. */
function canonical(spec: OutputSpec): string {
  const background = spec.background;
  return JSON.stringify({
    effect: spec.effect ?? 'color',
    effectParams: Object.fromEntries(Object.entries(spec.effectParams ?? {}).sort(([a], [b]) => a.localeCompare(b))),
    format: spec.format ?? 'png',
    quality: spec.quality ?? 90,
    pngCompression: spec.pngCompression ?? 1,
    background: background === undefined ? null : typeof background === 'string' ? background.toLowerCase() : `image:${sha256Bytes(background)}`,
    crop: spec.crop ?? false,
    cropMargin: spec.crop ? spec.cropMargin ?? 0.05 : null,
    maskOnly: spec.maskOnly ?? false,
    size: spec.size ?? 'full',
  });
}

function sha256Bytes(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function formatBox(box: Box | null): string {
  return box ? `${box.x},${box.y},${box.width},${box.height}` : 'none';
}

function parseBox(text: string | undefined): Box | null {
  const parts = text?.split(',').map(Number);
  if (!parts || parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) return null;
  const [x, y, width, height] = parts as [number, number, number, number];
  return { x, y, width, height };
}
