import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PetcutError } from '../errors.js';
import type { RateLimiter, RuleName } from '../security/rateLimit/limiter.js';
import type { RateDecision, RateRule } from '../security/rateLimit/types.js';
import { securityOf } from '../security/routePolicy.js';
import { sessionNamed } from './security.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by installRateLimits; chargeWarmup reads it. */
    rateLimiter?: RateLimiter;
  }
}

export interface RateLimitHooksOptions {
  readonly limiter: RateLimiter;
  /** The client address charged by the ip rule (default: request.ip, through the trusted proxies). */
  readonly ipOf?: (request: FastifyRequest) => string;
  /** The session a request works on (default: X-Session-ID, then ?session_id=, then the :sessionId parameter). */
  readonly sessionOf?: (request: FastifyRequest) => string | undefined;
}

interface Shown {
  readonly rule: RateRule;
  readonly decision: RateDecision;
}

/** The decision a request's RateLimit-* headers report (the tightest rule charged so far). */
const shown = new WeakMap<FastifyRequest, Shown>();

/**
 * Charges every request to its client IP (request.ip: Fastify has already
 * walked X-Forwarded-For through the trusted proxies only), and uploads to
 * their session once the body and parameters are parsed. Hooks go on the root
 * instance, so they apply to every route plugin registered after this call.
 */
export function installRateLimits(app: FastifyInstance, options: RateLimitHooksOptions): void {
  const { limiter } = options;
  const sessionOf = options.sessionOf ?? sessionNamed;
  const ipOf = options.ipOf ?? ((request: FastifyRequest) => request.ip);
  app.decorate('rateLimiter', limiter);
  app.addHook('onRequest', async (request, reply) => {
    // CORS preflights are answered by the CORS plugin without work, and the browser caches them (max-age).
    if (request.method === 'OPTIONS') return;
    if (securityOf(request.routeOptions.config).rate === 'none') return;
    await charge(request, reply, limiter, 'ip', ipOf(request));
  });
  app.addHook('preHandler', async (request, reply) => {
    if (securityOf(request.routeOptions.config).rate !== 'upload') return;
    const session = sessionOf(request);
    if (session) await charge(request, reply, limiter, 'session', session);
  });
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
