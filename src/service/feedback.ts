import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../storage/store.js';
import type { Rating } from '../observability/business.js';
import { RATING_KIND, SESSION_PREFIX } from './sessions.js';
import type { Sessions } from './sessions.js';
import { TIER_NAMES } from './tiers.js';
import type { Tier } from './tiers.js';

/**
 * A shopper's one-tap rating of a cut-out, stored with the session: one small
 * JSON object per rating at `sessions/<tier>/<session>/<id>.json`, in the
 * tier the session's images are in now (temporary before any order), so it
 * expires with them by the same lifecycle rule or sweep. Image listings leave
 * it out (its `kind` metadata is "rating"). A rating stored before an order
 * moves the images stays in the tier it was written to (docs/kpis.md).
 */
export interface StoredRating {
  readonly id: string;
  readonly sessionId: string;
  readonly rating: Rating;
  readonly imageId?: string;
  readonly variant: string;
  readonly tier: Tier;
  readonly createdAt: string;
  readonly key: string;
}

export async function storeRating(store: ObjectStore, sessions: Sessions, input: { sessionId: string; rating: Rating; imageId?: string; variant: string; now: Date }): Promise<StoredRating> {
  const sessionId = sessions.checkSessionId(input.sessionId);
  const images = await sessions.list(sessionId);
  const tier = images.reduce<Tier>((longest, image) => (TIER_NAMES.indexOf(image.tier) > TIER_NAMES.indexOf(longest) ? image.tier : longest), 'temporary');
  const id = `${input.now.getTime().toString(36).padStart(9, '0')}-${randomBytes(8).toString('base64url')}`;
  const key = `${SESSION_PREFIX}${tier}/${sessionId}/${id}.json`;
  const record = { id, sessionId, rating: input.rating, ...(input.imageId ? { imageId: input.imageId } : {}), variant: input.variant, tier, createdAt: input.now.toISOString() };
  await store.put(key, Buffer.from(JSON.stringify(record)), { contentType: 'application/json', metadata: { kind: RATING_KIND, created: record.createdAt } });
  return { ...record, key };
}

/** The session's stored ratings (tests, support questions). */
export async function listRatings(store: ObjectStore, sessionId: string): Promise<StoredRating[]> {
  const infos = (await Promise.all(TIER_NAMES.map((tier) => store.list(`${SESSION_PREFIX}${tier}/${sessionId}/`)))).flat().filter((info) => info.metadata.kind === RATING_KIND);
  const ratings = await Promise.all(infos.map(async (info) => {
    const object = await store.get(info.key);
    return object ? { ...(JSON.parse(object.data.toString('utf8')) as Omit<StoredRating, 'key'>), key: info.key } : undefined;
  }));
  return ratings.filter((r): r is StoredRating => r !== undefined).sort((a, b) => a.id.localeCompare(b.id));
}
