/**
 * The tiers customer images live in, with their lifetimes in days: the
 * shop's plan (temporary 7, order pending 30, order completed 180, archived
 * 730). Sessions move images up, never down; bucket lifecycle rules and the
 * local expiry sweep read the same table.
 */
export const TIERS = { temporary: 7, order_pending: 30, order_completed: 180, archived: 730 } as const;
export type Tier = keyof typeof TIERS;
export const TIER_NAMES = Object.keys(TIERS) as Tier[];

