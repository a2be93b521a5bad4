import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { publicRoute } from '../../security/routePolicy.js';
import { listWebFiles, MODULES_ROOT, sendAsset, WEB_ROOT, webAssets } from '../webFiles.js';
import type { SendOptions } from '../webFiles.js';

/**
 * The pages and browser files (#19): the demo page at /, the interactive API
 * docs at /docs (Swagger UI, served from node_modules, no CDN), the
 * storefront widget's files at /widget/, and /favicon.ico.
 *
 * Every file is looked up by its URL in a table listed once at start-up
 * (listWebFiles): a request path is never joined to a folder, so `..`,
 * encoded slashes or NUL bytes can only miss the table (404). The raw path is
 * looked up as it came (not decoded): the table's names are plain.
 */

/** The demo page's policy: only its own files; images from data:/blob: (the picked photo, downloads), the API and its job socket on the same origin. */
export const DEMO_CSP = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; style-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Swagger UI's policy: the demo's. Swagger UI 5 needs no allowance: its
 * stylesheet is a file, and React sets element styles through the CSSOM,
 * which CSP does not govern (test/web.demo.test.ts listens for
 * securitypolicyviolation events while it renders and runs "try it out").
 * The validator badge (validator.swagger.io) is switched off in docs.js.
 */
export const DOCS_CSP = DEMO_CSP;

/**
 * The widget's example page (a plain product page embedding the widget). The
 * widget writes its styles as a <style> in its shadow root (themeable, no
 * extra request), which needs style-src 'unsafe-inline'; shops' themes that
 * set a policy at all allow inline styles. Scripts stay 'self'. Its form
 * posts to the page's own /cart/add.
 */
export const WIDGET_PAGE_CSP = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** The widget's files change with a deploy: shops' pages may cache them 5 minutes (then revalidate with the ETag). */
const WIDGET_CACHE = 'public, max-age=300';
/** Vendored files change only with the package version. */
const VENDOR_CACHE = 'public, max-age=86400';
/** Longest URL path looked up; longer ones are 404 without a lookup. */
const MAX_PATH = 512;

/** Swagger UI's files the docs page uses (not its index.html or swagger-initializer.js: those load the petstore). */
const SWAGGER_FILES = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png'];

export function registerWebRoutes(app: FastifyInstance, _ctx: AppContext): void {
  const demo = webAssets(listWebFiles(join(WEB_ROOT, 'demo'), '/demo/'));
  const docs = webAssets(new Map([
    ...listWebFiles(join(WEB_ROOT, 'docs'), '/docs/'),
    ...SWAGGER_FILES.map((name) => [`/docs/vendor/${name}`, join(MODULES_ROOT, 'swagger-ui-dist', name)] as const),
  ]));
  const widget = webAssets(listWebFiles(join(WEB_ROOT, 'widget'), '/widget/'));

  /** The asset at the request's path (query dropped, nothing decoded), sent with its page options, or the API's 404. */
  const serve = (lookup: typeof demo, options: (path: string) => SendOptions, path?: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const url = path ?? pathOf(request);
    const asset = url === undefined ? undefined : lookup(url);
    if (!asset) throw new PetcutError('PETCUT_E_NOT_FOUND');
    return sendAsset(request, reply, asset, options(url!));
  };
  const page = (csp: string) => (url: string): SendOptions => (url.endsWith('.html') ? { csp } : {});

  // In the OpenAPI document too (every served route is), as pages: their bodies are HTML, scripts and styles.
  const file = { 200: { description: 'The page or file (text/html, text/javascript, text/css, ...).', content: { 'text/html': { schema: { type: 'string' } } } }, 404: { description: 'No such file (`PETCUT_E_NOT_FOUND`).' } };
  const doc = (summary: string): Record<string, unknown> => ({ summary, tags: ['pages'], 'x-responses': file });
  // Not charged to the per-address rate: one page load is a dozen files at once, past the read burst (10),
  // and each is answered from memory (a 304 mostly). The API calls the pages make are charged as usual.
  const open = publicRoute('none');
  app.get('/', { config: open, schema: doc('The demo page: drop a photo, watch the progress, pick a print style, download, copy the curl command') }, serve(demo, () => ({ csp: DEMO_CSP }), '/demo/index.html'));
  app.get('/demo/*', { config: open, schema: doc('The demo page\'s scripts and styles') }, serve(demo, page(DEMO_CSP)));
  app.get('/docs', { config: open, schema: doc('Interactive API docs (Swagger UI, served from this service) for /openapi.json') }, serve(docs, () => ({ csp: DOCS_CSP }), '/docs/index.html'));
  app.get('/docs/*', { config: open, schema: doc('The API docs\' files (Swagger UI\'s bundle and styles)') }, serve(docs, (url) => (url.startsWith('/docs/vendor/') ? { cacheControl: VENDOR_CACHE } : page(DOCS_CSP)(url))));
  // Any origin: a shop's page loads the widget's module scripts in CORS mode (security.ts exempts routes with anyOrigin).
  app.get('/widget/*', { config: { ...open, anyOrigin: true }, schema: doc('The storefront widget\'s files (<petcut-uploader>: the first-load module, its lazy parts, the example product page), for any origin') },
    serve(widget, (url) => ({ anyOrigin: true, cacheControl: WIDGET_CACHE, ...page(WIDGET_PAGE_CSP)(url) })));
  // Browsers ask for it on every page: the pages link their own icon; this answers without a 404 in the logs.
  app.get('/favicon.ico', { config: open, schema: { summary: 'No icon (204): browsers ask for one on every page', tags: ['pages'], 'x-responses': { 204: { description: 'No content.' } } } as Record<string, unknown> }, async (_request, reply) => reply.status(204).header('Cache-Control', 'public, max-age=86400').send());
}

/** The raw path without its query; undefined when it is over-long. */
function pathOf(request: FastifyRequest): string | undefined {
  const raw = request.raw.url ?? request.url;
  const end = raw.indexOf('?');
  const path = end < 0 ? raw : raw.slice(0, end);
  return path.length > MAX_PATH ? undefined : path;
}
