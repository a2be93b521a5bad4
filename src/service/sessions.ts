import { randomBytes, randomUUID } from 'node:crypto';
import { PetcutError } from '../errors.js';
import { sanitizeOriginal } from '../image/sanitize.js';
import { TIER_NAMES, TIERS } from './tiers.js';
import type { Tier } from './tiers.js';
import type { ExpiryRule, ObjectInfo, ObjectStore, StoredObject } from '../storage/store.js';
import { CACHE_PREFIX } from './cache.js';

/**
 * Customer images grouped by session, in tiers with lifetimes. Objects live at
 * `sessions/<tier>/<session>/<image id>.<ext>`; an image's URL names only the
 * session and the image id, so moving it to a longer-lived tier (when an order
 * is placed) never breaks a cart's link.
 */
export const SESSION_PREFIX = 'sessions/';
const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/;
const IMAGE_ID = /^[a-z0-9]{9}-[A-Za-z0-9_-]{11}$/;
/** The `kind` metadata of a stored satisfaction rating (src/service/feedback.ts): left out of image listings. */
export const RATING_KIND = 'rating';

export type ImageKind = 'original' | 'cutout';

export interface SessionImage {
  readonly id: string;
  readonly sessionId: string;
  readonly kind: ImageKind;
  readonly effect?: string;
  /** For a cut-out: the id of the original it came from. */
  readonly source?: string;
  readonly contentType: string;
  readonly size: number;
  readonly tier: Tier;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly key: string;
}

export interface NewImage {
  readonly data: Buffer;
  readonly contentType: string;
  readonly extension: string;
  readonly kind: ImageKind;
  readonly effect?: string;
  readonly source?: string;
}

export interface Sessions {
  newSessionId(): string;
  /** Throws PETCUT_E_INVALID_SESSION_ID for anything that could not be a session id. */
  checkSessionId(id: string): string;
  store(sessionId: string, image: NewImage): Promise<SessionImage>;
  /** Re-encodes without metadata (GPS and all) before storing. */
  storeOriginal(sessionId: string, input: Buffer): Promise<SessionImage>;
  /** The same, with the stored (re-encoded) bytes: the cut-out links them to the upload's cache entry. */
  storeOriginalData(sessionId: string, input: Buffer): Promise<{ image: SessionImage; data: Buffer }>;
  list(sessionId: string): Promise<SessionImage[]>;
  read(sessionId: string, imageId: string): Promise<{ image: SessionImage; object: StoredObject }>;
  find(sessionId: string, imageId: string): Promise<SessionImage | undefined>;
  /** Moves every image of the session to `tier` (never to a shorter-lived one). */
  moveTo(sessionId: string, tier: Tier): Promise<{ moved: number; images: SessionImage[] }>;
  /** Deletes expired images and cache entries; for local disk, where no lifecycle rule does it. */
  sweep(now?: Date): Promise<{ deleted: number }>;
  expiryRules(): ExpiryRule[];
}

export function createSessions(store: ObjectStore, options: { maxPixels: number; cacheDays: number; clock?: () => Date }): Sessions {
  const clock = options.clock ?? (() => new Date());
  const rank = (tier: Tier): number => TIER_NAMES.indexOf(tier);

  const describe = (info: ObjectInfo): SessionImage | undefined => {
    const [, tier, sessionId, file] = info.key.split('/');
    if (!tier || !sessionId || !file || !(TIER_NAMES as string[]).includes(tier)) return undefined;
    // Satisfaction ratings live beside the images (src/service/feedback.ts) but are not images.
    if (info.metadata.kind === RATING_KIND) return undefined;
    const t = tier as Tier;
    return {
      id: file.replace(/\.[^.]+$/, ''), sessionId, kind: info.metadata.kind === 'cutout' ? 'cutout' : 'original',
      effect: info.metadata.effect, source: info.metadata.source, contentType: info.contentType, size: info.size, tier: t,
      // The upload's time survives tier moves; the expiry counts from when the image entered its tier.
      createdAt: info.metadata.created ? new Date(info.metadata.created) : info.updated, expiresAt: new Date(info.updated.getTime() + TIERS[t] * 86_400_000), key: info.key,
    };
  };

  const listAll = async (sessionId: string): Promise<SessionImage[]> => {
    const perTier = await Promise.all(TIER_NAMES.map((tier) => store.list(`${SESSION_PREFIX}${tier}/${sessionId}/`)));
    const byId = new Map<string, SessionImage>();
    // A move copies then deletes: if a crash left both, the longer-lived copy is the image.
    for (const image of perTier.flat().map(describe)) {
      if (!image) continue;
      const seen = byId.get(image.id);
      if (!seen || rank(image.tier) > rank(seen.tier)) byId.set(image.id, image);
    }
    return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  };

  const sessions: Sessions = {
    newSessionId: () => randomUUID(),
    checkSessionId(id) {
      if (!SESSION_ID.test(id)) throw new PetcutError('PETCUT_E_INVALID_SESSION_ID');
      return id;
    },
    async store(sessionId, image) {
      sessions.checkSessionId(sessionId);
      // Time first so names sort by upload; 8 random bytes so two uploads in the same millisecond never collide.
      const id = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(8).toString('base64url')}`;
      const key = `${SESSION_PREFIX}temporary/${sessionId}/${id}.${image.extension}`;
      const now = clock();
      const metadata: Record<string, string> = { kind: image.kind, created: now.toISOString() };
      if (image.effect) metadata.effect = image.effect;
      if (image.source) metadata.source = image.source;
      await store.put(key, image.data, { contentType: image.contentType, metadata });
      return { id, sessionId, kind: image.kind, effect: image.effect, source: image.source, contentType: image.contentType, size: image.data.length,
        tier: 'temporary', createdAt: now, expiresAt: new Date(now.getTime() + TIERS.temporary * 86_400_000), key };
    },
    storeOriginal: async (sessionId, input) => (await sessions.storeOriginalData(sessionId, input)).image,
    async storeOriginalData(sessionId, input) {
      sessions.checkSessionId(sessionId);
      const clean = await sanitizeOriginal(input, options.maxPixels);
      const image = await sessions.store(sessionId, { data: clean.data, contentType: clean.contentType, extension: clean.extension, kind: 'original' });
      return { image, data: clean.data };
    },
    list: (sessionId) => listAll(sessions.checkSessionId(sessionId)),
    async find(sessionId, imageId) {
      sessions.checkSessionId(sessionId);
      if (!IMAGE_ID.test(imageId)) return undefined;
      const perTier = await Promise.all(TIER_NAMES.map((tier) => store.list(`${SESSION_PREFIX}${tier}/${sessionId}/${imageId}.`)));
      const found = perTier.flat().map(describe).filter((i): i is SessionImage => i !== undefined);
      return found.sort((a, b) => rank(b.tier) - rank(a.tier))[0];
    },
    async read(sessionId, imageId) {
      const image = await sessions.find(sessionId, imageId);
      const object = image ? await store.get(image.key) : null;
      if (!image || !object) throw new PetcutError('PETCUT_E_IMAGE_NOT_FOUND');
      return { image, object };
    },
    async moveTo(sessionId, tier) {
      const images = await sessions.list(sessionId);
      if (images.length === 0) throw new PetcutError('PETCUT_E_SESSION_NOT_FOUND');
      let moved = 0;
      for (const image of images) {
        if (rank(image.tier) >= rank(tier)) continue;
        const target = image.key.replace(`${SESSION_PREFIX}${image.tier}/`, `${SESSION_PREFIX}${tier}/`);
        // Copy, then delete: at every instant one complete copy is visible.
        await store.copy(image.key, target);
        await store.delete(image.key);
        moved++;
      }
      return { moved, images: await sessions.list(sessionId) };
    },
    async sweep(now = clock()) {
      let deleted = 0;
      for (const rule of sessions.expiryRules()) {
        for (const info of await store.list(rule.prefix)) {
          if (now.getTime() - info.updated.getTime() < rule.days * 86_400_000) continue;
          await store.delete(info.key);
          deleted++;
        }
      }
      return { deleted };
    },
    expiryRules: () => expiryRules(options.cacheDays),
  };
  return sessions;
}

/** One age rule per tier and one for the cache: the sweep's rules on disk, the lifecycle rules on buckets. */
export function expiryRules(cacheDays: number): ExpiryRule[] {
  return [
    ...TIER_NAMES.map((tier) => ({ prefix: `${SESSION_PREFIX}${tier}/`, days: TIERS[tier] })),
    { prefix: CACHE_PREFIX, days: cacheDays },
  ];
}
