import type { FastifyRequest } from 'fastify';
import { PetcutError } from '../errors.js';
import { securityOf } from '../security/routePolicy.js';

/**
 * The one shopper session a request acts on (issue #12: a token for session
 * A listed session B's images by naming A in the header and B in the path).
 * A client can name a session in four places: the `X-Session-ID` header,
 * the `session_id` query parameter, the `:sessionId` path parameter and a
 * `session_id` form field (known only once the body is read). Every place
 * that names one must name the same one, in the one valid shape; two
 * different ids are a 400 of their own, never a silent choice. The value is
 * then checked against the caller's credential (a storefront token reaches
 * only its own session) and becomes `request.actingSession`: what the route
 * works on, what the rate limits charge, what the cost ledger books and what
 * progress sockets hear. Nothing else reads a session id from the request.
 */
declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the access hook (and again once a form field is read) for routes that act on a session. */
    actingSession?: string;
  }
}

export const SESSION_ID_PATTERN = '^[A-Za-z0-9_-]{8,64}$';
const SESSION_ID = new RegExp(SESSION_ID_PATTERN);

/** Where a session id was named (for the conflict message). */
type Place = 'X-Session-ID header' | 'session_id query parameter' | 'path' | 'session_id form field';

/** Every session id the request names, with where; repeated headers or parameters count once each. */
function mentions(request: FastifyRequest, formValue?: string): Array<readonly [Place, string]> {
  const found: Array<readonly [Place, string]> = [];
  const add = (place: Place, value: unknown): void => {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== '') found.push([place, String(item)]);
    }
  };
  add('X-Session-ID header', request.headers['x-session-id']);
  add('session_id query parameter', (request.query as Record<string, unknown> | undefined)?.session_id);
  add('path', (request.params as Record<string, unknown> | undefined)?.sessionId);
  add('session_id form field', formValue);
  return found;
}

/**
 * Resolves and checks the acting session; returns it (undefined when the
 * request names none and its credential carries none). Throws
 * PETCUT_E_INVALID_SESSION_ID (a malformed id anywhere), PETCUT_E_SESSION_CONFLICT
 * (two different ids) or PETCUT_E_FORBIDDEN (a token for another session).
 */
export function resolveSession(request: FastifyRequest, formValue?: string): string | undefined {
  const named = mentions(request, formValue);
  for (const [place, value] of named) {
    if (!SESSION_ID.test(value)) throw new PetcutError('PETCUT_E_INVALID_SESSION_ID', `Invalid session id in the ${place}: use 8 to 64 letters, digits, "-" or "_".`);
  }
  const distinct = new Set(named.map(([, value]) => value));
  if (distinct.size > 1) {
    throw new PetcutError('PETCUT_E_SESSION_CONFLICT', `The request names ${distinct.size} different sessions (${[...new Set(named.map(([place]) => place))].join(', ')}): name one session, the same everywhere.`);
  }
  const principal = request.principal;
  const chosen = named[0]?.[1];
  if (principal?.kind === 'storefront-token' && chosen !== undefined && chosen !== principal.sessionId) {
    throw new PetcutError('PETCUT_E_FORBIDDEN', 'This token is for another session.');
  }
  request.actingSession = chosen ?? principal?.sessionId;
  return request.actingSession;
}

/** True for routes that declare they act on a session (`session` in their security declaration). */
export function actsOnSession(request: FastifyRequest): boolean {
  return securityOf(request.routeOptions.config).session === true;
}
