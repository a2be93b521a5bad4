import { createHash, randomBytes } from 'node:crypto';
import { inspectImage } from '../../../image/decode.js';
import { jpegBody } from '../client.js';
import type { Answer } from '../client.js';
import type { CheckContext, CheckResult } from '../types.js';

/** Tier lifetimes in days (docs/http-api.md, "Sessions and customer images"; the shop's plan). */
const TIER_DAYS = { temporary: 7, order_pending: 30 } as const;
const DAY_MS = 86_400_000;
// A stored image's expiry may sit this far from now + its tier's days (clock skew, the request's own time).
const EXPIRY_SLACK_MS = 10 * 60_000;

interface StoredImage { id: string; size: number; contentType: string; tier: string; expiresAt: string; url: string }

/** validate-<time>-<random>: marked as ours for whoever reads the bucket, 8-64 characters as sessions must be. */
export function validationSessionId(): string {
  return `validate-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function json<T>(answer: Answer): T {
  return JSON.parse(answer.body.toString('utf8')) as T;
}

function expiryProblem(image: StoredImage, tier: keyof typeof TIER_DAYS): string | undefined {
  if (image.tier !== tier) return `tier ${image.tier}, expected ${tier}`;
  const off = Math.abs(Date.parse(image.expiresAt) - (Date.now() + TIER_DAYS[tier] * DAY_MS));
  return off > EXPIRY_SLACK_MS ? `expiresAt ${image.expiresAt} is not ${TIER_DAYS[tier]} days from now (${tier})` : undefined;
}

/**
 * A customer photo's round trip through a session: stored, listed, read back
 * byte for byte as the service said it stored it, moved to the order tier with
 * its URL intact. The API has no deletion: the session is named validate-...
 * and expires with its tier (order_pending: 30 days). Needs only a client and
 * photos: the smoke subset (smoke.ts) runs it too.
 */
export async function storageCheck(ctx: Pick<CheckContext, 'client' | 'photos'>): Promise<CheckResult> {
  const session = validationSessionId();
  const base = `/v1/sessions/${session}`;
  const photo = await ctx.photos.next('preview');
  const fail = (step: string, answer?: Answer): CheckResult => ({ status: 'fail', detail: `${step}${answer ? ` (${answer.status}: ${answer.body.toString('utf8').slice(0, 160)})` : ''}; session ${session}`, measured: { session } });

  const stored = await ctx.client.send(`${base}/images`, { ...jpegBody(photo), headers: { 'content-type': 'image/jpeg', 'x-session-id': session } });
  if (stored.status !== 201) return fail('storing the photo failed', stored);
  const image = json<StoredImage>(stored);
  const fresh = expiryProblem(image, 'temporary');
  if (fresh) return fail(`the stored image: ${fresh}`);

  const listed = await ctx.client.send(`${base}/images`, { headers: { 'x-session-id': session } });
  if (listed.status !== 200) return fail('listing the session failed', listed);
  if (!json<{ images: StoredImage[] }>(listed).images.some((i) => i.id === image.id)) return fail(`the listing does not show image ${image.id}`);

  const read = await ctx.client.send(`${base}/images/${image.id}`, { headers: { 'x-session-id': session } });
  if (read.status !== 200) return fail('reading the image back failed', read);
  if (read.body.length !== image.size) return fail(`read ${read.body.length} bytes back, the service said it stored ${image.size}`);
  if (read.headers.get('content-type') !== image.contentType) return fail(`read back as ${read.headers.get('content-type')}, stored as ${image.contentType}`);
  const [sent, back] = await Promise.all([inspectImage(photo, { maxPixels: 1e8 }), inspectImage(read.body, { maxPixels: 1e8 })]);
  if (sent.width !== back.width || sent.height !== back.height) return fail(`read back ${back.width}x${back.height}, sent ${sent.width}x${sent.height}`);

  const moved = await ctx.client.send(`${base}/order`, { method: 'POST', body: Buffer.from('{"status":"pending"}'), headers: { 'content-type': 'application/json', 'x-session-id': session } });
  if (moved.status !== 200) return fail('the order-tier move failed', moved);
  const after = json<{ images: StoredImage[] }>(moved).images.find((i) => i.id === image.id);
  if (!after) return fail('the moved session lost the image');
  const pending = expiryProblem(after, 'order_pending');
  if (pending) return fail(`after the move: ${pending}`);
  const again = await ctx.client.send(`${base}/images/${image.id}`, { headers: { 'x-session-id': session } });
  if (again.status !== 200 || sha256(again.body) !== sha256(read.body)) return fail('the image URL does not give the same bytes after the move', again);
  if (again.headers.get('x-tier') !== 'order_pending') return fail(`X-Tier after the move is ${again.headers.get('x-tier')}`);
  return {
    status: 'pass',
    detail: `stored ${image.size} bytes (${sent.width}x${sent.height}), listed, read back identical, moved to order_pending (expires ${after.expiresAt.slice(0, 10)}); no delete route: session ${session} expires with its tier`,
    measured: { session, imageId: image.id, size: image.size, expiresAt: after.expiresAt },
  };
}
