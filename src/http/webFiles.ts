import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The browser files the service serves (web/: the widget, the demo page, the
 * dashboard; and a few vendored files from node_modules: Swagger UI, uPlot).
 * Only files listed when the app starts can be served: a URL is looked up in
 * that table, never joined to a path, so no request can reach another file.
 * Bodies are read once and kept (web/ is small); text files are gzipped once,
 * on first use, and sent gzipped to clients that accept it.
 */

/** The repository's (or the image's /app) web/ folder: from src/http or dist/http, two levels up. */
export const WEB_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

/** Where node_modules is, for vendored browser files (the same two levels up). */
export const MODULES_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.webp': 'image/webp', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
  '.liquid': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8',
};

const TEXT = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.txt', '.liquid', '.md']);

export interface WebAsset {
  readonly path: string;
  readonly type: string;
  readonly body: Buffer;
  readonly etag: string;
  /** Gzipped body (text files), made on first use. */
  gzip(): Buffer | undefined;
}

function assetOf(file: string): WebAsset {
  const body = readFileSync(file);
  const ext = extname(file).toLowerCase();
  let gz: Buffer | undefined;
  return {
    path: file, type: TYPES[ext] ?? 'application/octet-stream', body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    gzip: () => (TEXT.has(ext) ? (gz ??= gzipSync(body, { level: 9 })) : undefined),
  };
}

/**
 * Every servable file under `dir`, keyed by its URL (`urlPrefix` + the path
 * below `dir`, with `/`). Hidden files and unknown extensions are left out.
 * A missing folder gives an empty table (a test app without web/ still starts).
 */
export function listWebFiles(dir: string, urlPrefix: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (at: string): void => {
    let names: string[];
    try {
      names = readdirSync(at);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const full = join(at, name);
      const stat = statSync(full);
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile() && TYPES[extname(name).toLowerCase()]) files.set(urlPrefix + relative(dir, full).split(sep).join('/'), full);
    }
  };
  walk(dir);
  return files;
}

/** A lookup table URL -> asset; files are read the first time they are asked for. */
export function webAssets(files: ReadonlyMap<string, string>): (url: string) => WebAsset | undefined {
  const loaded = new Map<string, WebAsset>();
  return (url) => {
    const file = files.get(url);
    if (file === undefined) return undefined;
    let asset = loaded.get(url);
    if (!asset) {
      asset = assetOf(file);
      loaded.set(url, asset);
    }
    return asset;
  };
}

export interface SendOptions {
  /** The page's Content-Security-Policy (HTML); replaces the API's default-src 'none'. */
  readonly csp?: string;
  /** Cache-Control; default: revalidate every time (ETag makes that a 304). */
  readonly cacheControl?: string;
  /** Access-Control-Allow-Origin: * (public scripts a shop's page loads as modules: those are fetched in CORS mode). */
  readonly anyOrigin?: boolean;
}

/** Sends an asset with its type, ETag (304 on a match), gzip when accepted, and the page's own headers. */
export function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: WebAsset, options: SendOptions = {}): FastifyReply {
  reply.header('Content-Type', asset.type).header('ETag', asset.etag).header('Vary', 'Accept-Encoding')
    .header('Cache-Control', options.cacheControl ?? 'no-cache');
  if (options.csp) reply.header('Content-Security-Policy', options.csp);
  if (options.anyOrigin) reply.header('Access-Control-Allow-Origin', '*').header('Cross-Origin-Resource-Policy', 'cross-origin');
  const match = request.headers['if-none-match'];
  if (typeof match === 'string' && match.split(',').some((tag) => tag.trim() === asset.etag)) return reply.status(304).send();
  const accepts = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  const gz = accepts ? asset.gzip() : undefined;
  if (gz) return reply.header('Content-Encoding', 'gzip').send(gz);
  return reply.send(asset.body);
}
