import { coldCheck } from './checks/cold.js';
import { concurrencyCheck } from './checks/concurrency.js';
import { corsCheck } from './checks/cors.js';
import { healthCheck } from './checks/health.js';
import { memoryCheck } from './checks/memory.js';
import { storageCheck } from './checks/storage.js';
import { warmCheck } from './checks/warm.js';
import { websocketCheck } from './checks/websocket.js';
import type { Check } from './types.js';

/**
 * The staging checklist (plan, section 1) as data, in run order. Weights add
 * up to 100 (docs/validate.md): customer-visible speed and not losing
 * customers' photos weigh most; the score is the passed weight over the
 * weight of the checks that ran.
 */
export const CHECKS: readonly Check[] = [
  { id: 'cold', title: 'Cold start', weight: 15, threshold: 'each < 35 s, P95 < 30 s, P99 < 35 s (SLO cold-start-latency; plan 1, 6)', run: coldCheck },
  { id: 'warm', title: 'Warm processing', weight: 20, threshold: 'P95 < 5 s (SLO warm-latency), P99 < 8 s (plan 6), every sample a cache MISS', run: warmCheck },
  { id: 'memory', title: 'Memory under load', weight: 15, threshold: 'peak < 28/32 of the limit (plan 1: < 28Gi of 32Gi); only 503 + Retry-After when shedding, no crash', run: memoryCheck },
  { id: 'storage', title: 'Storage integrity', weight: 15, threshold: 'store, list, read back identical, order-tier move keeps the URL, expiry per tier', run: storageCheck },
  { id: 'cors', title: 'Shopify theme CORS', weight: 10, threshold: 'shop, preview and storefront origins granted with the read headers exposed; an unlisted origin refused', run: corsCheck },
  { id: 'websocket', title: 'WebSocket stability', weight: 10, threshold: 'job and /ws/progress sockets open through a job, stages in order, pongs, reconnect sees the end', run: websocketCheck },
  { id: 'concurrency', title: 'Concurrent requests', weight: 10, threshold: 'none lost: every 200 an image, every refusal a coded 4xx or 503 + Retry-After', run: concurrencyCheck },
  { id: 'health', title: 'Health check', weight: 5, threshold: '/healthz P95 < 500 ms during the other checks (plan 6)', run: healthCheck },
];
