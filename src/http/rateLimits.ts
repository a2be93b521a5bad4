import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PetcutError } from '../errors.js';
import type { RateLimiter, RuleName } from '../security/rateLimit/limiter.js';
import type { RateDecision, RateRule } from '../security/rateLimit/types.js';
import { securityOf } from '../security/routePolicy.js';
import type { AppProxyClaim } from './security.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by installRateLimits; chargeWarmup reads it. */
    rateLimiter?: RateLimiter;
    /** Uploads per minute service-wide while a mitigation throttles (src/mitigation/); set through throttleUploads. */
    uploadThrottle: { perMin?: number };
  }
  interface FastifyRequest {
    /** The address the ip rule charged (request.ip, or a signed App Proxy request's shopper). */
    limitedAddress?: string;
  }
}

export interface RateLimitHooksOptions {
  readonly limiter: RateLimiter;
  /** A signed App Proxy request's signature and claimed shopper address (src/http/security.ts); none by default. */
  readonly appProxyClaim?: (request: FastifyRequest) => AppProxyClaim | undefined;
  /** The session a request acts on (default: request.actingSession, resolved and checked by the access hook). */
  readonly sessionOf?: (request: FastifyRequest) => string | undefined;
}

interface Shown {
  readonly rule: RateRule;
  readonly decision: RateDecision;
}

/** The decision a request's RateLimit-* headers report (the tightest rule charged so far). */
const shown = new WeakMap<FastifyRequest, Shown>();

/**
 * Charges every request to its client address, and uploads to their session
 * once the access hook has resolved it. The address is one the caller cannot
 * choose: request.ip (Fastify walks X-Forwarded-For through the trusted
 * proxies only). A signed App Proxy request arrives from Shopify's servers,
 * so its shopper is the address Shopify added; that entry is the caller's
 * own text when a captured signature is replayed, so the signature itself is
 * charged too, against a fixed lifetime budget (the `signature` rule): a
 * replay that writes a new address each time drains that one budget and
 * never mints fresh ones. An upload that names no session
 * is charged under the session rule to its address, so going without a
 * session buys no extra budget. Hooks go on the root instance, so they apply
 * to every route plugin registered after this call.
 */
export function installRateLimits(app: FastifyInstance, options: RateLimitHooksOptions): void {
  const { limiter } = options;
  const sessionOf = options.sessionOf ?? ((request: FastifyRequest) => request.actingSession);
  app.decorate('rateLimiter', limiter);
  // One object, read through every plugin scope: throttleUploads changes its field, never the decoration.
  app.decorate('uploadThrottle', {});
  app.decorateRequest('limitedAddress', undefined);
  app.addHook('onRequest', async (request, reply) => {
    // CORS preflights are answered by the CORS plugin without work, and the browser caches them (max-age).
    if (request.method === 'OPTIONS') return;
    if (securityOf(request.routeOptions.config).rate === 'none') return;
    const claim = options.appProxyClaim?.(request);
    request.limitedAddress = claim?.shopper ?? request.ip;
    await charge(request, reply, limiter, 'ip', request.limitedAddress);
    if (claim) await chargeQuietly(limiter, 'signature', claim.signature, 'This signed App Proxy request has been used too many times (a replay?): send a fresh one through the shop.');
  });
  app.addHook('preHandler', async (request, reply) => {
    if (securityOf(request.routeOptions.config).rate !== 'upload') return;
    const session = sessionOf(request);
    await charge(request, reply, limiter, 'session', session ?? `address:${request.limitedAddress ?? request.ip}`);
    const perMin = request.server.uploadThrottle.perMin;
    if (perMin !== undefined) await chargeThrottle(limiter, perMin);
  });
}

/**
 * A cost mitigation's throttle (docs/mitigations.md): while `perMin` is set,
 * uploads are charged to one budget for the whole service (shared through
 * Redis with REDIS_URL), perMin a minute with bursts of a tenth of it, on
 * top of the usual per-address and per-session rules. A per-client factor
 * would not bound the total, and the total is what the budget is about.
 */
export function throttleUploads(app: FastifyInstance, perMin: number | undefined): void {
  app.uploadThrottle.perMin = perMin;
}

export const THROTTLE_RULE = 'throttle';

async function chargeThrottle(limiter: RateLimiter, perMin: number): Promise<void> {
  const rule: RateRule = { name: THROTTLE_RULE, limit: perMin, windowS: 60, burst: Math.floor(perMin / 10) };
  const decision = await limiter.chargeRule(rule, `uploads-${perMin}`);
  if (!decision.allowed) {
    throw new PetcutError('PETCUT_E_THROTTLED', `The service takes at most ${perMin} new photos a minute for now (a temporary limit while its spend is checked). Retry in ${decision.retryAfterS} s.`, { retryAfterS: decision.retryAfterS });
  }
}

/**
 * The service-wide warm-up budget: the /warmup handler calls this only when
 * the model is not loaded yet (a warm-up of a warm model costs nothing).
 * Throws PETCUT_E_RATE_LIMITED when the budget is spent.
 */
export async function chargeWarmup(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const limiter = request.server.rateLimiter;
  if (limiter) await charge(request, reply, limiter, 'warmup', 'service');
}

/** A rule whose budget is not the client's to plan around: no RateLimit-* headers, only the refusal. */
async function chargeQuietly(limiter: RateLimiter, name: RuleName, subject: string, message: string): Promise<void> {
  const decision = await limiter.charge(name, subject);
  if (decision && !decision.allowed) throw new PetcutError('PETCUT_E_RATE_LIMITED', message, { retryAfterS: decision.retryAfterS });
}

async function charge(request: FastifyRequest, reply: FastifyReply, limiter: RateLimiter, name: RuleName, subject: string): Promise<void> {
  const decision = await limiter.charge(name, subject);
  const rule = limiter.rules[name];
  if (!decision || !rule) return;
  const previous = shown.get(request);
  const current = previous && tighter(previous.decision, decision) ? previous : { rule, decision };
  shown.set(request, current);
  setHeaders(reply, current);
  if (!decision.allowed) throw new PetcutError('PETCUT_E_RATE_LIMITED', refusalMessage(rule, decision), { retryAfterS: decision.retryAfterS });
}

function tighter(a: RateDecision, b: RateDecision): boolean {
  return a.remaining < b.remaining || (a.remaining === b.remaining && a.resetMs >= b.resetMs);
}

/** IETF draft (draft-ietf-httpapi-ratelimit-headers) style, one policy at a time. */
function setHeaders(reply: FastifyReply, { rule, decision }: Shown): void {
  reply.header('RateLimit-Limit', String(decision.limit));
  reply.header('RateLimit-Remaining', String(decision.remaining));
  reply.header('RateLimit-Reset', String(decision.resetS));
  reply.header('RateLimit-Policy', `${rule.limit};w=${rule.windowS};burst=${rule.burst}`);
}

const SUBJECTS: Record<string, string> = { ip: 'from this address', session: 'in this session', warmup: 'to warm up the service' };


function refusalMessage(rule: RateRule, decision: RateDecision): string {
  // The warm-up rule spends half its hourly budget at once (see rulesOf): say the budget, not the rate.
  if (rule.name === 'warmup') return `Too many warm-ups of the service: at most ${rule.limit + rule.burst + 1} per hour. Retry in ${decision.retryAfterS} s.`;
  const window = rule.windowS === 60 ? 'minute' : rule.windowS === 3600 ? 'hour' : `${rule.windowS} s`;
  const subject = SUBJECTS[rule.name] ?? `under the ${rule.name} limit`;
  return `Too many requests ${subject}: ${rule.limit} per ${window} (bursts of ${rule.burst + 1}). Retry in ${decision.retryAfterS} s.`;
}
