import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, listen, photo, startEngine } from './support/app.js';
import { filePartHead, rawRequest, statusOf, uploadHead } from './support/rawHttp.js';

/**
 * Malformed multipart bodies (issue #12, item 5): a part with no closing
 * boundary was a 500 PETCUT_E_INTERNAL with "unhandled error" in the log, on
 * all six upload routes. Every broken shape below, through every upload
 * route, must be a coded 4xx, with nothing stored and the service unharmed.
 */
const B = 'xYzBoundary123';
const CRLF = '\r\n';
let engine: Engine;
let app: PetcutApp;
let jpeg: Buffer;
const logs: string[] = [];

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine, { logger: { level: 'warn', stream: { write: (line: string) => void logs.push(line) } } }));
  jpeg = await photo(64, 48, 'jpeg');
});
afterAll(async () => {
  await app?.petcut.processing.drain();
  await app?.close();
  await engine?.close();
});

const ROUTES = [
  ['/v1/cutouts', 'image'], ['/v1/jobs', 'image'], ['/v1/sessions/multipart-session-1/images', 'image'],
  ['/api/v2/process-with-effects', 'file'], ['/remove-background', 'file'], ['/store-image', 'file'],
] as const;

it('walks every upload route of the route table', () => {
  // The renders route is charged as an upload (it runs the engine on a stored photo) but reads no body (http.renders.test.ts).
  const uploads = app.routeTable().filter((r) => r.security.rate === 'upload' && !r.url.endsWith('/renders')).map((r) => r.url.replace(':sessionId', 'multipart-session-1'));
  expect(uploads.length).toBeGreaterThan(3);
  expect(new Set(uploads)).toEqual(new Set(ROUTES.map(([url]) => url)));
});

const fileHead = (field: string): string => `--${B}${CRLF}Content-Disposition: form-data; name="${field}"; filename="pet.jpg"${CRLF}Content-Type: image/jpeg${CRLF}${CRLF}`;

/** [what, content type, body] for a route's file field. */
function shapes(field: string): Array<[string, string, Buffer]> {
  const type = `multipart/form-data; boundary=${B}`;
  const text = (s: string): Buffer => Buffer.from(s, 'latin1');
  const withFile = (before: string, after: string): Buffer => Buffer.concat([text(before), jpeg, text(after)]);
  return [
    ['a part with no closing boundary (cut off)', type, withFile(fileHead(field), '')],
    ['a part cut off mid-file', type, Buffer.concat([text(fileHead(field)), jpeg.subarray(0, 100)])],
    ['the body cut off inside the part headers', type, text(`--${B}${CRLF}Content-Disposition: form-da`)],
    ['the closing boundary without its final dashes', type, withFile(fileHead(field), `${CRLF}--${B}`)],
    ['no boundary in the body at all', type, text('just some text, no parts')],
    ['an empty body', type, Buffer.alloc(0)],
    ['only the closing boundary', type, text(`--${B}--${CRLF}`)],
    ['no boundary parameter', 'multipart/form-data', withFile(fileHead(field), `${CRLF}--${B}--${CRLF}`)],
    ['a different boundary than declared', 'multipart/form-data; boundary=other', withFile(fileHead(field), `${CRLF}--${B}--${CRLF}`)],
    ['a boundary longer than RFC 2046 allows', `multipart/form-data; boundary=${'b'.repeat(200)}`, withFile(`--${'b'.repeat(200)}${CRLF}Content-Disposition: form-data; name="${field}"${CRLF}${CRLF}`, `${CRLF}--${'b'.repeat(200)}--${CRLF}`)],
    ['part headers with no blank line after them', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="${field}"${CRLF}`, `${CRLF}--${B}--${CRLF}`)],
    ['no Content-Disposition', type, withFile(`--${B}${CRLF}Content-Type: image/jpeg${CRLF}${CRLF}`, `${CRLF}--${B}--${CRLF}`)],
    ['a file part with no name', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; filename="x.jpg"${CRLF}${CRLF}`, `${CRLF}--${B}--${CRLF}`)],
    ['bare LF line ends', type, withFile(`--${B}\nContent-Disposition: form-data; name="${field}"; filename="a.jpg"\n\n`, `\n--${B}--\n`)],
    ['a 100 KB part header (tolerated: the file name is cut to 200 characters)', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="${field}"; filename="${'a'.repeat(100_000)}"${CRLF}${CRLF}`, `${CRLF}--${B}--${CRLF}`)],
    ['a nested multipart/mixed part', type, text(`--${B}${CRLF}Content-Disposition: form-data; name="${field}"${CRLF}Content-Type: multipart/mixed; boundary=inner${CRLF}${CRLF}--inner${CRLF}Content-Type: image/jpeg${CRLF}${CRLF}xx${CRLF}--inner--${CRLF}--${B}--${CRLF}`)],
    ['a field named __proto__', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="__proto__"${CRLF}${CRLF}{"polluted":1}${CRLF}${fileHead(field)}`, `${CRLF}--${B}--${CRLF}`)],
    ['a field over 64 KB', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="size"${CRLF}${CRLF}${'9'.repeat(70_000)}${CRLF}${fileHead(field)}`, `${CRLF}--${B}--${CRLF}`)],
    ['a JSON field that is not JSON', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="size"${CRLF}Content-Type: application/json${CRLF}${CRLF}{not json${CRLF}${fileHead(field)}`, `${CRLF}--${B}--${CRLF}`)],
    ['200 tiny parts (over the part limit)', type, text(`${Array.from({ length: 200 }, (_, i) => `--${B}${CRLF}Content-Disposition: form-data; name="f${i}"${CRLF}${CRLF}x${CRLF}`).join('')}--${B}--${CRLF}`)],
    ['twelve files in one part list', type, Buffer.concat([...Array.from({ length: 12 }, () => Buffer.concat([text(fileHead(field)), jpeg, text(CRLF)])), text(`--${B}--${CRLF}`)])],
    ['a header line with a NUL byte', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="${field}\0"; filename="a.jpg"${CRLF}${CRLF}`, `${CRLF}--${B}--${CRLF}`)],
    ['an unknown transfer encoding on the part (tolerated: ignored, the bytes decide)', type, withFile(`--${B}${CRLF}Content-Disposition: form-data; name="${field}"; filename="a.jpg"${CRLF}Content-Transfer-Encoding: base64${CRLF}${CRLF}`, `${CRLF}--${B}--${CRLF}`)],
  ];
}

async function storedImages(): Promise<number> {
  const listing = await app.inject({ method: 'GET', url: '/v1/sessions/multipart-session-1/images' });
  return listing.statusCode === 404 ? 0 : listing.json<{ images: unknown[] }>().images.length;
}

describe('every malformed multipart shape through every upload route is a coded 4xx', () => {
  for (const [route, field] of ROUTES) {
    it(`${route}`, async () => {
      const before = await storedImages();
      const answers: string[] = [];
      for (const [what, type, body] of shapes(field)) {
        const response = await app.inject({ method: 'POST', url: route, headers: { 'content-type': type }, payload: body });
        const parsed = /json/.test(String(response.headers['content-type'])) ? response.json<{ error?: { code: string }; code?: string }>() : {};
        const code = parsed.error?.code ?? parsed.code;
        answers.push(`${what}: ${response.statusCode} ${code}`);
        expect(response.statusCode, `${what}: ${response.body.slice(0, 200)}`).toBeLessThan(500);
        if (/tolerated/.test(what)) continue;
        expect(response.statusCode, `${what}: ${response.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(code, what).toMatch(/^PETCUT_E_/);
      }
      expect(answers.filter((a) => / 5\d\d /.test(a))).toEqual([]);
      // Nothing was kept for any malformed one (each tolerated one stored its image).
      const tolerated = shapes(field).filter(([what]) => /tolerated/.test(what)).length;
      expect(await storedImages() - before).toBeLessThanOrEqual(route.includes('multipart-session-1') ? tolerated : 0);
    });
  }

  it('nothing reached the log as an unhandled error, and the capacity is all back', () => {
    expect(logs.filter((line) => /unhandled error/.test(line))).toEqual([]);
    expect(app.petcut.capacity.status()).toMatchObject({ inFlight: 0, uploadBytes: 0 });
  });

  it('a client that closes its connection mid-part leaves the service answering the next one', async () => {
    const base = await listen(app);
    const exchange = rawRequest(base, uploadHead('/v1/cutouts', 64 * 1024) + filePartHead());
    exchange.write(jpeg.subarray(0, 500));
    exchange.destroy();
    const next = await fetch(`${base}/healthz`);
    expect(next.status).toBe(200);
    const cut = rawRequest(base, `${uploadHead('/v1/cutouts', Buffer.byteLength(fileHead('image')) + jpeg.length, B)}${fileHead('image')}`);
    cut.write(jpeg);
    // The body is complete as declared, but the form never closes: a 400, not a 500.
    expect(statusOf(await cut.answered())).toBe(400);
    cut.destroy();
  });
});
