import type { z } from 'zod';

/**
 * One table of coded errors. Every failure that a caller can cause or act on
 * has a stable code and an HTTP status; anything else is an internal error
 * whose details stay in the log.
 */
export const ERRORS = {
  PETCUT_E_EMPTY_INPUT: { status: 400, message: 'The file is empty.' },
  PETCUT_E_UNSUPPORTED_FORMAT: { status: 415, message: 'Unsupported image format: use JPEG, PNG or WebP.' },
  PETCUT_E_CORRUPT_IMAGE: { status: 422, message: 'The image could not be decoded: the file is damaged or truncated.' },
  PETCUT_E_TOO_MANY_PIXELS: { status: 413, message: 'The image has too many pixels.' },
  PETCUT_E_DIMENSIONS_TOO_LARGE: { status: 413, message: 'The image is larger than 4096 x 4096 pixels: resize it and upload it again.' },
  PETCUT_E_HEIC_UNSUPPORTED: { status: 415, message: 'HEIC/HEIF photos are not supported: on an iPhone choose Settings > Camera > Formats > Most Compatible, or share the photo as JPEG.' },
  PETCUT_E_ANIMATED_IMAGE: { status: 422, message: 'Animated or multi-page images are not accepted: upload a single still photo.' },
  PETCUT_E_SUSPICIOUS_CONTENT: { status: 422, message: 'The file carries data that is not part of the image: save the photo again (or take a screenshot) and upload that.' },
  PETCUT_E_INVALID_OPTION: { status: 400, message: 'Invalid option.' },
  PETCUT_E_INVALID_CONFIG: { status: 500, message: 'Invalid configuration.' },
  PETCUT_E_MODEL_UNAVAILABLE: { status: 503, message: 'The segmentation model is not available.' },
  PETCUT_E_MODEL_INTEGRITY: { status: 500, message: 'The model weights failed their integrity check.' },
  PETCUT_E_DEVICE_UNAVAILABLE: { status: 500, message: 'The requested execution provider is not available.' },
  PETCUT_E_MISSING_FILE: { status: 400, message: 'No image was sent: send it as the multipart field "image" or as the raw body.' },
  PETCUT_E_UNKNOWN_FIELD: { status: 400, message: 'Unknown multipart field.' },
  PETCUT_E_BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  PETCUT_E_PAYLOAD_TOO_LARGE: { status: 413, message: 'The upload is too large.' },
  PETCUT_E_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported request content type.' },
  PETCUT_E_NOT_FOUND: { status: 404, message: 'Not found.' },
  PETCUT_E_JOB_NOT_FOUND: { status: 404, message: 'Unknown job id.' },
  PETCUT_E_SESSION_NOT_FOUND: { status: 404, message: 'Unknown session id.' },
  PETCUT_E_INVALID_SESSION_ID: { status: 400, message: 'Invalid session id: use 8 to 64 letters, digits, "-" or "_".' },
  PETCUT_E_SESSION_CONFLICT: { status: 400, message: 'The request names two different sessions: name one session, the same everywhere.' },
  PETCUT_E_IMAGE_NOT_FOUND: { status: 404, message: 'Unknown image.' },
  PETCUT_E_RESULT_NOT_FOUND: { status: 404, message: 'Unknown or expired result.' },
  PETCUT_E_UNKNOWN_EFFECT: { status: 400, message: 'Unknown effect.' },
  PETCUT_E_REQUEST_TIMEOUT: { status: 408, message: 'The upload took too long: check the connection and try again.' },
  PETCUT_E_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  PETCUT_E_URI_TOO_LONG: { status: 414, message: 'The URL is too long: a path segment exceeds the limit.' },
  PETCUT_E_NOT_CONFIGURED: { status: 501, message: 'This feature is not configured on this service.' },
  PETCUT_E_RATE_LIMITED: { status: 429, message: 'Too many requests: wait for the time in Retry-After and try again.' },
  PETCUT_E_THROTTLED: { status: 429, message: 'The service takes fewer new photos for a while (a temporary limit): retry after the time in Retry-After.' },
  PETCUT_E_INVALID_ALERT: { status: 400, message: 'Not an Alertmanager webhook payload (version 4).' },
  PETCUT_E_UNAUTHORIZED: { status: 401, message: 'Authentication required: send a storefront token, a Shopify session token or an App Proxy signature.' },
  PETCUT_E_INVALID_TOKEN: { status: 401, message: 'The token is not valid.' },
  PETCUT_E_TOKEN_EXPIRED: { status: 401, message: 'The token has expired: get a new one.' },
  PETCUT_E_INVALID_SIGNATURE: { status: 401, message: 'The request signature is not valid.' },
  PETCUT_E_STALE_REQUEST: { status: 401, message: 'The signed request is too old (or its clock is wrong).' },
  PETCUT_E_FORBIDDEN: { status: 403, message: 'These credentials do not allow this request.' },
  PETCUT_E_OPERATOR_ONLY: { status: 403, message: 'This route is for operators: send an operator API key.' },
  PETCUT_E_ORIGIN_NOT_ALLOWED: { status: 403, message: 'This origin is not allowed to call the API.' },
  PETCUT_E_OVERLOADED: { status: 503, message: 'The service is busy: retry after the time in Retry-After.' },
  PETCUT_E_MEMORY_PRESSURE: { status: 503, message: 'The service is short of memory: retry after the time in Retry-After.' },
  PETCUT_E_NOT_READY: { status: 503, message: 'The model is still loading: retry after the time in Retry-After.' },
  PETCUT_E_SHUTTING_DOWN: { status: 503, message: 'The service is shutting down: retry on another instance.' },
  PETCUT_E_STORAGE_UNAVAILABLE: { status: 503, message: 'Storage is not reachable: retry later; nothing was stored.' },
  PETCUT_E_CLIENT_CLOSED: { status: 499, message: 'The client closed the connection.' },
  PETCUT_E_INTERNAL: { status: 500, message: 'Internal error.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class PetcutError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds the caller should wait before retrying (sent as Retry-After), when it is known. */
  readonly retryAfterS?: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; retryAfterS?: number }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'PetcutError';
    this.code = code;
    this.status = ERRORS[code].status;
    if (options?.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
  }
}

export function isPetcutError(error: unknown): error is PetcutError {
  return error instanceof PetcutError;
}

export function invalidOption(name: string, detail: string): PetcutError {
  return new PetcutError('PETCUT_E_INVALID_OPTION', `Invalid option "${name}": ${detail}`);
}

/**
 * Validates env against a schema once; a bad value is an error naming the
 * variable (never its value). With the error table because a configuration
 * mistake is a coded error like any other, and because every room's config
 * loader needs it: it must sit below all of them.
 */
export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: ${detail}`);
  }
  return parsed.data;
}

