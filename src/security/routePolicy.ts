/**
 * What each route requires, declared beside the route as data
 * (`config: storefront('upload')`) and enforced by the
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
  | 'webhook'
  /** Metrics scrapers: an address in PETCUT_METRICS_ALLOWED_IPS (loopback by default), or an operator key. */
  | 'scraper';

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
  /**
   * The route acts on a shopper session (src/http/session.ts): the session
   * its header, query, path or form names is checked against the caller's
   * credential, and every place naming one must agree.
   */
  readonly session?: boolean;
}

export interface RouteScope {
  readonly session?: boolean;
}

export const DEFAULT_SECURITY: RouteSecurity = { access: 'storefront', rate: 'read' };

export const publicRoute = (rate: RateClass = 'read', scope: RouteScope = {}): { security: RouteSecurity } => ({ security: { access: 'public', rate, ...scope } });
export const storefront = (rate: RateClass = 'read', scope: RouteScope = {}): { security: RouteSecurity } => ({ security: { access: 'storefront', rate, ...scope } });
export const operatorRoute = (rate: RateClass = 'read', scope: RouteScope = {}): { security: RouteSecurity } => ({ security: { access: 'operator', rate, ...scope } });
export const webhookRoute = (): { security: RouteSecurity } => ({ security: { access: 'webhook', rate: 'none' } });
export const scraperRoute = (): { security: RouteSecurity } => ({ security: { access: 'scraper', rate: 'none' } });
/** Shorthand for routes that act on a shopper session. */
export const SESSION: RouteScope = Object.freeze({ session: true });

declare module 'fastify' {
  interface FastifyContextConfig {
    security?: RouteSecurity;
  }
}

export function securityOf(config: { security?: RouteSecurity } | undefined): RouteSecurity {
  return config?.security ?? DEFAULT_SECURITY;
}
