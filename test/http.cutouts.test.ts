import { connect } from 'node:net';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { asInjected, buildApp, controlledStore, expectError, form, listen, pathOf, photo, sniff, startEngine } from './support/app.js';
import type { ControlledStore } from './support/app.js';
import { until } from './support/wait.js';

let engine: Engine;
let app: PetcutApp;
let base: string;
let pet: Buffer; // 320x240 PNG: the one photo most tests reuse (its cut-out is cached after the first)

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine));
  base = await listen(app);
  pet = await photo(320, 240, 'png');
});
afterAll(async () => {
  await app?.shutdown();
});

const cutout = (query: string, body: Buffer | FormData = form([{ data: pet }]), headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: `/v1/cutouts${query}`, payload: body, headers });

/** The same pixels with different bytes: a tEXt chunk inserted before IEND. */
function withTextChunk(png: Buffer, text: string): Buffer {
  const body = Buffer.concat([Buffer.from('tEXt', 'latin1'), Buffer.from(`Comment\0${text}`, 'latin1')]);
  const chunk = Buffer.alloc(body.length + 8);
  chunk.writeUInt32BE(body.length - 4, 0);
  body.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(body), body.length + 4);
  return Buffer.concat([png.subarray(0, png.length - 12), chunk, png.subarray(png.length - 12)]);
}

describe('POST /v1/cutouts returns the cut-out', () => {
  it('a PNG whose headers describe it; a repeat is a cache hit with the same bytes', async () => {
    const first = await cutout('');
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe('image/png');
    expect(sniff(first.rawPayload)).toBe('png');
    const meta = await sharp(first.rawPayload).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([320, 240, 4]);
    expect(first.headers['x-cache']).toBe('MISS');
    expect([Number(first.headers['x-image-width']), Number(first.headers['x-image-height'])]).toEqual([320, 240]);
    expect(Number(first.headers['x-processing-time-ms'])).toBeGreaterThan(0);
    const [x, y, w, h] = String(first.headers['x-foreground-box']).split(',').map(Number) as [number, number, number, number];
    // The disc: centre (144, 120), radius 72.
    expect(Math.abs(x - 72)).toBeLessThanOrEqual(8);
    expect(Math.abs(y - 48)).toBeLessThanOrEqual(8);
    expect(Math.abs(w - 144)).toBeLessThanOrEqual(12);
    expect(Math.abs(h - 144)).toBeLessThanOrEqual(12);
    expect(Number(first.headers['x-mask-confidence'])).toBeGreaterThan(0.5);
    expect(Number(first.headers['x-mask-confidence'])).toBeLessThanOrEqual(1);
    expect(first.headers['x-model']).toBe(engine.model.name);
    expect(first.headers['x-device']).toBe(engine.runtime.device);

    await app.petcut.processing.drain(); // the cut-out master and the alias are written in the background
    const again = await cutout('');
    expect(again.statusCode).toBe(200);
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.rawPayload.equals(first.rawPayload)).toBe(true);
  });

  it.each([
    ['png', 'image/png', 4],
    ['webp', 'image/webp', 4],
    ['jpeg', 'image/jpeg', 3],
    ['jpg', 'image/jpeg', 3],
  ] as const)('format=%s: Content-Type %s matches the real bytes', async (format, contentType, channels) => {
    const response = await cutout(`?format=${format}&quality=80`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(contentType);
    expect(`image/${sniff(response.rawPayload)}`).toBe(contentType);
    const meta = await sharp(response.rawPayload).metadata();
    expect(meta.channels).toBe(channels);
    expect([meta.width, meta.height]).toEqual([Number(response.headers['x-image-width']), Number(response.headers['x-image-height'])]);
  });

  it('size=200 bounds the long side; crop=true is smaller than the full frame; mask=true is one grey channel', async () => {
    const sized = await cutout('?size=200');
    expect((await sharp(sized.rawPayload).metadata()).width).toBe(200);
    expect(Number(sized.headers['x-image-height'])).toBe(150);
    const cropped = await cutout('?crop=true');
    const c = await sharp(cropped.rawPayload).metadata();
    expect(c.width).toBeLessThan(320);
    expect(c.height).toBeLessThan(240);
    expect(c.width).toBeGreaterThanOrEqual(144);
    expect([c.width, c.height]).toEqual([Number(cropped.headers['x-image-width']), Number(cropped.headers['x-image-height'])]);
    const mask = await cutout('?mask=true');
    const m = await sharp(mask.rawPayload).metadata();
    expect([m.channels, m.hasAlpha, m.width]).toEqual([1, false, 320]);
    const stats = await sharp(mask.rawPayload).stats();
    expect(stats.channels[0]!.min).toBeLessThan(20); // background
    expect(stats.channels[0]!.max).toBeGreaterThan(235); // pet
  });

  it('background=#ff0000 with JPEG fills the background red (options as multipart fields too)', async () => {
    const response = await cutout('', form([{ data: pet }], { format: 'jpeg', background: '#ff0000' }));
    expect(response.headers['content-type']).toBe('image/jpeg');
    const { data, info } = await sharp(response.rawPayload).raw().toBuffer({ resolveWithObject: true });
    const corner = [data[0]!, data[1]!, data[2]!];
    const centre = (120 * info.width + 144) * info.channels;
    expect(corner[0]).toBeGreaterThan(220);
    expect(corner[1]! + corner[2]!).toBeLessThan(60);
    expect(data[centre]).toBeLessThan(200); // the pet is not red
  });

  it('size=preview bounds the long side to 1024 (a client hanging up first does not break it)', async () => {
    const big = await photo(1280, 960, 'jpeg');
    // An app of its own on a store the test holds: the upload is read and its room reserved, then its cache
    // lookup waits until the client has gone, so the hang-up comes first whatever the machine's speed.
    let control!: ControlledStore;
    const { app: held } = await buildApp(engine, { wrapStore: (inner) => (control = controlledStore(inner)).store });
    try {
      const heldBase = await listen(held);
      const release = control.hold((op, key) => op === 'get' && key.startsWith('cache/alias/'));
      const controller = new AbortController();
      const hungUp = fetch(`${heldBase}/v1/cutouts`, { method: 'POST', body: form([{ data: big }]), signal: controller.signal }).then(() => 'answered', () => 'aborted');
      await until(() => control.calls.some((c) => c.op === 'get' && c.key.startsWith('cache/alias/')), 'the upload to reach its cache lookup');
      expect(held.petcut.capacity.status().inFlight).toBe(1);
      controller.abort();
      expect(await hungUp).toBe('aborted');
      release();
      // The server finishes (or drops) the work and gives its room back.
      await until(() => held.petcut.capacity.status().inFlight === 0 && engine.inFlight() === 0, 'the hung-up request to give its room back');
      await held.petcut.processing.drain();
      expect((await fetch(`${heldBase}/healthz`)).status).toBe(200);
    } finally {
      await held.close(); // not shutdown(): the engine is shared
    }
    const response = await cutout('?size=preview', form([{ data: big }]));
    expect(response.statusCode).toBe(200);
    const meta = await sharp(response.rawPayload).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 768]);
  });

  it('over a real socket, raw body and multipart', async () => {
    const raw = await fetch(`${base}/v1/cutouts?format=webp`, { method: 'POST', body: new Uint8Array(pet), headers: { 'content-type': 'image/png' } });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('image/webp');
    const bytes = Buffer.from(await raw.arrayBuffer());
    expect(sniff(bytes)).toBe('webp');
    expect(Number(raw.headers.get('content-length'))).toBe(bytes.length);
    const multipart = await fetch(`${base}/v1/cutouts?format=jpeg`, { method: 'POST', body: form([{ data: pet }]) });
    expect(multipart.status).toBe(200);
    expect(sniff(Buffer.from(await multipart.arrayBuffer()))).toBe('jpeg');
    expect(multipart.headers.get('x-image-width')).toBe('320');
  });

  it('effects=color,color is one output; Accept: application/json gives result URLs that serve the same bytes', async () => {
    const single = await cutout('?effects=color,color');
    expect(single.headers['content-type']).toBe('image/png');
    expect(single.headers['x-effect']).toBe('color');
    const json = await cutout('?format=webp', form([{ data: pet }]), { accept: 'application/json' });
    expect(json.statusCode).toBe(200);
    const body = json.json<{ results: Array<{ effect: string; url: string; contentType: string; width: number; bytes: number }> }>();
    expect(body.results).toHaveLength(1);
    const [result] = body.results;
    expect(result!).toMatchObject({ effect: 'color', contentType: 'image/webp', width: 320 });
    const image = await app.inject({ method: 'GET', url: pathOf(result!.url) });
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/webp');
    expect(image.rawPayload.length).toBe(result!.bytes);
    const direct = await cutout('?format=webp');
    expect(image.rawPayload.equals(direct.rawPayload)).toBe(true);
  });

  it('the same pixels re-saved with other metadata map to the same result key and bytes', async () => {
    const resaved = withTextChunk(pet, 'saved again by a photo app');
    expect(resaved.equals(pet)).toBe(false);
    const asJson = { accept: 'application/json' };
    const original = (await cutout('', form([{ data: pet }]), asJson)).json<{ results: Array<{ url: string }> }>();
    const again = await cutout('', form([{ data: resaved }]), asJson);
    expect(again.statusCode).toBe(200);
    expect(again.json<{ results: Array<{ url: string }> }>().results[0]!.url).toBe(original.results[0]!.url);
  });

  it('EXIF orientation 6 swaps width and height', async () => {
    const sideways = await sharp(await photo(320, 240, 'jpeg', 20)).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const response = await cutout('', form([{ data: sideways }]));
    expect(response.statusCode).toBe(200);
    const meta = await sharp(response.rawPayload).metadata();
    expect([meta.width, meta.height]).toEqual([240, 320]);
    expect([response.headers['x-image-width'], response.headers['x-image-height']]).toEqual(['240', '320']);
  });

  it('a 1x1 image gets a result (lesson 3)', async () => {
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
    const response = await cutout('', form([{ data: tiny }]));
    expect(response.statusCode).toBe(200);
    expect(await sharp(response.rawPayload).metadata()).toMatchObject({ width: 1, height: 1 });
  });
});

describe('bad input gets a coded JSON error', () => {
  it('no file: empty multipart form, empty body', async () => {
    expectError(await cutout('', form([], { format: 'png' })), 400, 'PETCUT_E_MISSING_FILE');
    expectError(await app.inject({ method: 'POST', url: '/v1/cutouts' }), 400, 'PETCUT_E_MISSING_FILE');
  });

  it('the photo under another field name', async () => {
    expectError(await cutout('', form([{ data: pet, field: 'photo' }])), 400, 'PETCUT_E_UNKNOWN_FIELD');
  });

  it('unknown options, in the query and as a form field', async () => {
    expectError(await cutout('?colour=red'), 400, /^PETCUT_E_(INVALID_OPTION|UNKNOWN_FIELD)$/);
    expectError(await cutout('', form([{ data: pet }], { colour: 'red' })), 400, 'PETCUT_E_UNKNOWN_FIELD');
  });

  it.each(['format=gif', 'quality=0', 'quality=101', 'size=0', 'size=huge', 'background=red', 'crop=maybe', 'cropMargin=2'])('bad value %s, in the query and as a form field', async (option) => {
    expectError(await cutout(`?${option}`), 400, 'PETCUT_E_INVALID_OPTION');
    const [name, value] = option.split('=') as [string, string];
    expectError(await cutout('', form([{ data: pet }], { [name]: value })), 400, 'PETCUT_E_INVALID_OPTION');
  });

  it('an unknown effect', async () => {
    const body = expectError(await cutout('?effects=color,no-such-effect'), 400, 'PETCUT_E_UNKNOWN_EFFECT');
    expect(body.error.message).toContain('no-such-effect');
  });

  it('a text file (415), a truncated JPEG (422), a text/plain body (4xx)', async () => {
    expectError(await cutout('', form([{ data: Buffer.from('not an image at all, just words'), type: 'text/plain', filename: 'notes.txt' }])), 415, 'PETCUT_E_UNSUPPORTED_FORMAT');
    const jpeg = await photo(320, 240, 'jpeg', 7);
    expectError(await cutout('', form([{ data: jpeg.subarray(0, Math.floor(jpeg.length * 0.6)) }])), 422, 'PETCUT_E_CORRUPT_IMAGE');
    // A text/plain body is parsed by Fastify's own text parser, so the route sees no image: 400 "no image was sent" is fair.
    const text = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: 'hello', headers: { 'content-type': 'text/plain' } });
    expectError(text, text.statusCode === 415 ? 415 : 400, /^PETCUT_E_(UNSUPPORTED_MEDIA_TYPE|MISSING_FILE)$/);
  });

  it('an upload over PETCUT_BODY_LIMIT_MB gets 413, raw or multipart', async () => {
    const small = await buildApp(engine, { env: { PETCUT_BODY_LIMIT_MB: '1' } });
    try {
      const big = Buffer.concat([pet, Buffer.alloc(1536 * 1024, 7)]);
      expectError(await small.app.inject({ method: 'POST', url: '/v1/cutouts', payload: big, headers: { 'content-type': 'image/png' } }), 413, 'PETCUT_E_PAYLOAD_TOO_LARGE');
      expectError(await small.app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: big }]) }), 413, 'PETCUT_E_PAYLOAD_TOO_LARGE');
    } finally {
      await small.app.close(); // not shutdown(): the engine is shared
    }
  });

  it('a client that hangs up mid-upload does not hurt the server', async () => {
    const { port } = new URL(base);
    // Half the body, then a hang-up once the server holds room for the upload (it is reading it), then its room back.
    const half = async (head: string, body: Buffer): Promise<void> => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(head);
      socket.write(body.subarray(0, body.length >> 1));
      await until(() => app.petcut.capacity.status().inFlight === 1, 'the server to reserve room for the upload');
      socket.destroy();
      await until(() => app.petcut.capacity.status().inFlight === 0, 'the cut-off upload to give its room back');
    };
    const boundary = 'petcutboundary42';
    const multipart = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`), pet, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    await half(`POST /v1/cutouts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${multipart.length}\r\n\r\n`, multipart);
    await half(`POST /v1/cutouts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: ${pet.length}\r\n\r\n`, pet);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const after = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: form([{ data: pet }]) });
    expect(after.status).toBe(200);
    expect(after.headers.get('x-cache')).toBe('HIT');
  });

  it('after all of that a normal request still works, and errors over a real socket have the same shape', async () => {
    expectError(await asInjected(await fetch(`${base}/v1/cutouts?format=gif`, { method: 'POST', body: form([{ data: pet }]) })), 400, 'PETCUT_E_INVALID_OPTION');
    const response = await cutout('?format=jpeg');
    expect(response.statusCode).toBe(200);
    expect(sniff(response.rawPayload)).toBe('jpeg');
  });
});
