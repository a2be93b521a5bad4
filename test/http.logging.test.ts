import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp } from './support/app.js';

/** Structured logs as Cloud Logging reads them, and one correlation id per request. */
const lines: Array<Record<string, unknown>> = [];
let app: PetcutApp;

beforeAll(async () => {
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => { for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>); done(); } });
  // No model needed: the engine never loads.
  app = (await buildApp(new Promise<Engine>(() => undefined), { env: { GOOGLE_CLOUD_PROJECT: 'pet-prints-prod' }, logger: { level: 'info', stream } })).app;
});
afterAll(async () => {
  await app?.close();
});

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('request logs and correlation ids', () => {
  it('one line per request with severity, message, httpRequest and the trace link', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/effects?x=1', headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, 'user-agent': 'shop-widget/1.0' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-request-id']).toBe(TRACE);
    const line = lines.find((l) => l.message === 'request' && (l.httpRequest as { requestUrl?: string }).requestUrl === '/v1/effects');
    expect(line).toMatchObject({
      severity: 'INFO', reqId: TRACE,
      httpRequest: { requestMethod: 'GET', status: 200, userAgent: 'shop-widget/1.0', latency: expect.stringMatching(/^\d+\.\d{3}s$/) },
      'logging.googleapis.com/trace': `projects/pet-prints-prod/traces/${TRACE}`,
      'logging.googleapis.com/spanId': '00f067aa0ba902b7',
    });
  });

  it('a caller\'s X-Request-ID is kept when it is a plain token, and carried into the error body and the log', async () => {
    const response = await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'storefront-req-000123' } });
    expect(response.headers['x-request-id']).toBe('storefront-req-000123');
    expect(response.json()).toMatchObject({ requestId: 'storefront-req-000123', error: { code: 'PETCUT_E_NOT_FOUND' } });
    expect(lines.find((l) => l.reqId === 'storefront-req-000123' && l.message === 'request')).toMatchObject({ code: 'PETCUT_E_NOT_FOUND', httpRequest: { status: 404 } });
    for (const forged of ['short', 'two\nlines-of-log-000', 'x'.repeat(200)]) {
      const replaced = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': forged } });
      expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('warnings use Cloud Logging\'s severity names', () => {
    expect(lines.find((l) => String(l.message).startsWith('No authentication configured'))).toMatchObject({ severity: 'WARNING' });
  });
});
