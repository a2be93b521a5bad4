import type { RateDecision, RateRule } from './types.js';

/**
 * GCRA, the generic cell rate algorithm (as in redis-cell and throttled):
 * one number per key, the theoretical arrival time (TAT) of the next
 * request. A request is allowed while TAT - now <= tolerance, and moves TAT
 * on by one emission interval. Times are whole microseconds so the memory
 * store and the Redis script (./redisStore.ts, same steps in Lua) agree to
 * the microsecond: doubles hold them exactly up to 2^53 (year 2255).
 */
export interface GcraParams {
  /** T = windowS / limit: the sustained spacing between requests. */
  readonly intervalUs: number;
  /** burst * T: how far ahead of schedule a client may run. */
  readonly toleranceUs: number;
}

export interface GcraStep {
  readonly allowed: boolean;
  /** The TAT to store (unchanged when refused). */
  readonly tatUs: number;
  /** TAT - now: how long until the whole burst is available again. */
  readonly horizonUs: number;
  /** How long until a refused request would be allowed (0 when allowed). */
  readonly retryUs: number;
}

export function gcraParams(rule: RateRule): GcraParams {
  const intervalUs = Math.max(1, Math.round((rule.windowS * 1e6) / rule.limit));
  return { intervalUs, toleranceUs: rule.burst * intervalUs };
}

export function gcraStep(storedTatUs: number | undefined, nowUs: number, params: GcraParams, cost: number): GcraStep {
  const tat = Math.max(storedTatUs ?? nowUs, nowUs);
  const newTat = tat + cost * params.intervalUs;
  const allowAt = newTat - params.toleranceUs - params.intervalUs;
  if (nowUs < allowAt) return { allowed: false, tatUs: tat, horizonUs: tat - nowUs, retryUs: allowAt - nowUs };
  return { allowed: true, tatUs: newTat, horizonUs: newTat - nowUs, retryUs: 0 };
}

/** The decision both stores report, from a step's outcome. */
export function decisionOf(rule: RateRule, params: GcraParams, allowed: boolean, horizonUs: number, retryUs: number): RateDecision {
  const capacityUs = params.toleranceUs + params.intervalUs;
  return {
    allowed,
    limit: rule.limit,
    remaining: Math.max(0, Math.floor((capacityUs - horizonUs) / params.intervalUs)),
    resetS: Math.ceil(horizonUs / 1e6),
    resetMs: horizonUs / 1000,
    // Retry-After is whole seconds; rounding down would invite a retry that is refused again.
    retryAfterS: allowed ? 0 : Math.max(1, Math.ceil(retryUs / 1e6)),
  };
}
