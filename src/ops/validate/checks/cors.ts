import type { Answer } from '../client.js';
import type { CheckContext, CheckResult } from '../types.js';

/**
 * Response headers the storefront's theme code reads: RESULT_HEADERS
 * (src/http/views.ts) and EXPOSED_HEADERS (src/http/security.ts). Copied, not
 * imported: the operations room never imports http/ (eslint/boundaries.js),
 * and a validator that read the server's own list would pass whatever the
 * server exposes. Keep them in step with those two lists.
 */
export const STOREFRONT_READS = ['X-Processing-Time-Ms', 'X-Cache', 'X-Image-Width', 'X-Image-Height', 'X-Source-Width', 'X-Source-Height',
  'X-Foreground-Box', 'X-Mask-Confidence', 'X-Model', 'X-Device', 'X-Session-ID', 'X-Effect', 'Server-Timing', 'X-Petcut-Degraded', 'X-Petcut-Pet-Found', 'X-Petcut-Subjects',
  'X-Request-ID', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy', 'X-Tier', 'Location'];

/** What the widget sends cross-origin: a multipart or raw upload with a session and a token. */
const REQUEST_HEADERS = ['content-type', 'x-session-id', 'authorization'];
/** An origin no shop configuration lists. */
export const UNLISTED_ORIGIN = 'https://evil.example';

const listOf = (value: string | null): string[] => (value ?? '').split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);

export function shopOrigins(shop: string, storefrontOrigin?: string): string[] {
  const name = shop.replace(/\.myshopify\.com$/i, '');
  return [`https://${name}.myshopify.com`, `https://${name}-validate.shopifypreview.com`, ...(storefrontOrigin ? [storefrontOrigin] : [])];
}

async function preflight(ctx: CheckContext, origin: string): Promise<Answer> {
  return ctx.client.send('/v1/cutouts', {
    method: 'OPTIONS', credential: 'none',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': REQUEST_HEADERS.join(',') },
  });
}

/** Why `origin` is not granted what the theme needs, or undefined. */
async function grantProblem(ctx: CheckContext, origin: string): Promise<string | undefined> {
  const pre = await preflight(ctx, origin);
  if (pre.status >= 400 || pre.headers.get('access-control-allow-origin') !== origin) return `preflight from ${origin}: ${pre.status}, Access-Control-Allow-Origin ${pre.headers.get('access-control-allow-origin') ?? '(none)'}`;
  if (!listOf(pre.headers.get('access-control-allow-methods')).includes('post')) return `preflight from ${origin} does not allow POST`;
  const allowed = listOf(pre.headers.get('access-control-allow-headers'));
  const missingRequest = REQUEST_HEADERS.filter((name) => !allowed.includes(name));
  if (missingRequest.length > 0) return `preflight from ${origin} does not allow the headers ${missingRequest.join(', ')}`;
  const actual = await ctx.client.send('/healthz', { headers: { origin }, credential: 'none' });
  if (actual.headers.get('access-control-allow-origin') !== origin) return `a request from ${origin}: ${actual.status} without Access-Control-Allow-Origin`;
  const exposed = listOf(actual.headers.get('access-control-expose-headers'));
  const hidden = STOREFRONT_READS.filter((name) => !exposed.includes(name.toLowerCase()));
  return hidden.length > 0 ? `a request from ${origin} hides ${hidden.join(', ')} from the browser` : undefined;
}

/** The shop's origins are granted (preflight and request, with the headers exposed); an unlisted one is not. */
export async function corsCheck(ctx: CheckContext): Promise<CheckResult> {
  const origins = shopOrigins(ctx.options.shop, ctx.options.storefrontOrigin);
  const problems: string[] = [];
  for (const origin of origins) {
    const problem = await grantProblem(ctx, origin);
    if (problem) problems.push(problem);
  }
  const evilPre = await preflight(ctx, UNLISTED_ORIGIN);
  const evil = await ctx.client.send('/healthz', { headers: { origin: UNLISTED_ORIGIN }, credential: 'none' });
  if (evilPre.headers.get('access-control-allow-origin') || evil.headers.get('access-control-allow-origin')) problems.push(`${UNLISTED_ORIGIN} is granted CORS`);
  const measured = { origins, unlisted: { origin: UNLISTED_ORIGIN, preflight: evilPre.status, request: evil.status } };
  if (problems.length > 0) return { status: 'fail', detail: problems.join('; '), measured };
  const custom = ctx.options.storefrontOrigin ? '' : ' (no --storefront-origin: the custom domain was not tried)';
  return { status: 'pass', detail: `${origins.join(', ')} granted with ${STOREFRONT_READS.length} headers exposed; ${UNLISTED_ORIGIN} refused (${evil.status})${custom}`, measured };
}
