import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { OperatorKey } from './config.js';

/**
 * Operator API keys: 32 random bytes, shown once, stored only as their
 * sha256 (PETCUT_OPERATOR_KEYS=name:hash). A plain hash is enough because
 * the keys are random, not chosen passwords: there is nothing to guess.
 */
export const KEY_PREFIX = 'pk_';

export function generateOperatorKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashOperatorKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The matching key's name, comparing every entry in constant time. */
export function matchOperatorKey(presented: string, keys: readonly OperatorKey[]): string | undefined {
  const digest = createHash('sha256').update(presented).digest();
  let match: string | undefined;
  for (const key of keys) {
    if (timingSafeEqual(digest, key.sha256) && match === undefined) match = key.name;
  }
  return match;
}
