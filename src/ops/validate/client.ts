import { ERRORS } from '../../errors.js';
import type { ErrorCode } from '../../errors.js';

/** An HTTP answer read to the end, with its wall time (request sent to last byte). */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly ms: number;
}

/** Which credential a request carries: storefront routes the token, operator routes the key. */
export type Credential = 'storefront' | 'operator' | 'none';

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | FormData;
  readonly credential?: Credential;
  readonly timeoutS?: number;
}

export interface Client {
  readonly base: string;
  /** Resolves for every HTTP answer (any status); rejects only when none came (network, timeout). */
  readonly send: (path: string, options?: RequestOptions) => Promise<Answer>;
  readonly wsUrl: (path: string) => string;
}

export function createClient(base: string, secrets: { operatorKey?: string; token?: string }, timeoutS: number): Client {
  const root = base.replace(/\/+$/, '');
  const credentials = (credential: Credential): Record<string, string> => {
    if (credential === 'operator' && secrets.operatorKey) return { 'x-api-key': secrets.operatorKey };
    if (credential === 'storefront' && secrets.token) return { authorization: `Bearer ${secrets.token}` };
    return {};
  };
  return {
    base: root,
    wsUrl: (path) => `${root.replace(/^http/, 'ws')}${path}`,
    send: async (path, options = {}) => {
      const started = performance.now();
      const response = await fetch(`${root}${path}`, {
        method: options.method ?? (options.body ? 'POST' : 'GET'),
        headers: { ...credentials(options.credential ?? 'storefront'), ...options.headers },
        body: options.body,
        signal: AbortSignal.timeout((options.timeoutS ?? timeoutS) * 1000),
      });
      const body = Buffer.from(await response.arrayBuffer());
      return { status: response.status, headers: response.headers, body, ms: performance.now() - started };
    },
  };
}

/** A photo as a raw request body (the cut-out and session routes take one without multipart). */
export function jpegBody(photo: Buffer): RequestOptions {
  return { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } };
}

export function errorCodeOf(answer: Answer): string | undefined {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { error?: { code?: unknown }; code?: unknown };
    const code = typeof parsed.error === 'object' ? parsed.error.code : parsed.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Is a refusal one the storefront can act on: a code from src/errors.ts with
 * its own status, a 4xx, or a 503 with Retry-After? Returns why not, or undefined.
 */
export function badRefusal(answer: Answer): string | undefined {
  const code = errorCodeOf(answer);
  if (!code || !(code in ERRORS)) return `${answer.status} without a PETCUT_E_* code`;
  if (ERRORS[code as ErrorCode].status !== answer.status) return `${answer.status} with ${code}, whose status is ${ERRORS[code as ErrorCode].status}`;
  if (answer.status === 503 && !answer.headers.get('retry-after')) return `503 ${code} without Retry-After`;
  if (answer.status >= 500 && answer.status !== 503) return `${answer.status} ${code}`;
  return undefined;
}

/** PNG, JPEG or WebP by magic number: a 200 that carries anything else lost the image. */
export function isImage(body: Buffer): boolean {
  if (body.length < 12) return false;
  if (body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return true;
  if (body[0] === 0xff && body[1] === 0xd8) return true;
  return body.toString('latin1', 0, 4) === 'RIFF' && body.toString('latin1', 8, 12) === 'WEBP';
}

export function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'timed out';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
