/**
 * What each route requires, declared beside the route as data
 * (`config: { security: storefront('upload') }`) and enforced by the
 * security hooks (src/http/security.ts). A route that declares nothing is a
 * storefront route with the read rate: secure by default.
 */
export type Access =
  /** Never needs credentials: health probes, documents, and capability URLs (unguessable ids). */
  | 'public'
  /** The shop's storefront: open (rate-limited) until a Shopify secret, JWT key or IP allow-list is configured. */
  | 'storefront'
  /** Operators only (API key); 403 while no key is configured. */
  | 'operator'
  /** Shopify webhooks: the body's HMAC is the credential. */
  | 'webhook';

export type RateClass =
  /** Expensive work: counts against the client IP and the session. */
  | 'upload'
  /** Counts against the client IP. */
  | 'read'
  /** Counts against the client IP and the service-wide warm-up budget. */
  | 'warmup'
  /** Not limited (health probes from the platform). */
  | 'none';

export interface RouteSecurity {
  readonly access: Access;
  readonly rate: RateClass;
}

export const DEFAULT_SECURITY: RouteSecurity = { access: 'storefront', rate: 'read' };

export const publicRoute = (rate: RateClass = 'read'): { security: RouteSecurity } => ({ security: { access: 'public', rate } });
export const storefront = (rate: RateClass = 'read'): { security: RouteSecurity } => ({ security: { access: 'storefront', rate } });
export const operatorRoute = (rate: RateClass = 'read'): { security: RouteSecurity } => ({ security: { access: 'operator', rate } });
export const webhookRoute = (): { security: RouteSecurity } => ({ security: { access: 'webhook', rate: 'none' } });

declare module 'fastify' {
  interface FastifyContextConfig {
    security?: RouteSecurity;
  }
}

export function securityOf(config: { security?: RouteSecurity } | undefined): RouteSecurity {
  return config?.security ?? DEFAULT_SECURITY;
}
