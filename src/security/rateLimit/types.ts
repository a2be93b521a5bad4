/**
 * The rate-limit store interface: one small interface, two backends
 * (memory, Redis) and a failover store that combines them. Rules are data.
 */
export interface RateRule {
  /** `ip`, `session`, `warmup`: names the rule in headers, errors and stats. */
  readonly name: string;
  /** Requests per window, sustained. */
  readonly limit: number;
  readonly windowS: number;
  /** Requests allowed at once on top of the first: burst + 1 in a row, then one per windowS/limit. */
  readonly burst: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** The rule's limit per window (RateLimit-Limit). */
  readonly limit: number;
  /** Requests that would be allowed right now, after this one. */
  readonly remaining: number;
  /** Seconds (rounded up) until the whole burst is available again. */
  readonly resetS: number;
  /** The same, unrounded, in milliseconds: lets the failover store mirror Redis's state exactly. */
  readonly resetMs: number;
  /** Seconds (>= 1) before a refused request would be allowed; 0 when allowed. */
  readonly retryAfterS: number;
}

export interface RateLimitStore {
  /** Charges `cost` (default 1) against the key's budget under the rule. */
  consume(key: string, rule: RateRule, cost?: number): Promise<RateDecision>;
  /** `memory`, `redis`, `redis+memory`. */
  readonly kind: string;
  close(): Promise<void>;
}

/** The slice of pino the rate limiter logs through. */
export interface RateLimitLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export type Backend = 'redis' | 'memory';

export interface RateLimitStats {
  /** Where decisions come from now. */
  readonly backend: Backend;
  /** Times Redis was lost and the memory store took over. */
  readonly failovers: number;
  /** Decisions made by the memory store while Redis was configured but unavailable. */
  readonly fallbackDecisions: number;
  /** Refused requests per rule name. */
  readonly rejected: Readonly<Record<string, number>>;
}
