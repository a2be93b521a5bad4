import { statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import { openLedger } from '../src/cost/ledger.js';
import type { CostEntry } from '../src/cost/meter.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, form, photo, startEngine } from './support/app.js';

/**
 * The cost ledger under attack (issue #12, item 2): every response used to
 * book a request fee under the raw X-Session-ID (up to 16 KB), probes and
 * refusals included, and 3000 /healthz calls with 8 KB headers grew the
 * ledger from 1.3 MB to 50 MB (on Cloud Run that disk is memory). Request
 * billing is on here, so every request books a fee.
 */
let engine: Engine;
let dir: string;

beforeAll(async () => {
  engine = await startEngine();
  dir = await mkdtemp(join(tmpdir(), 'petcut-ledger-hammer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await engine?.close();
});

async function ledgerOf(app: PetcutApp): Promise<{ entries: CostEntry[]; bytes: number }> {
  await app.petcut.processing.drain();
  await app.close();
  const [file] = (await readdir(dir)).filter((name) => name.endsWith('.sqlite'));
  const path = join(dir, file!);
  const ledger = openLedger(path, { readonly: true });
  const entries = ledger.read(0, Date.now() + 1000);
  ledger.close();
  return { entries, bytes: statSync(path).size };
}

describe('the ledger stays small whatever the requests say', () => {
  it('3000 probes with 8 KB made-up session ids and 1000 refused or read requests with fresh valid ids add a handful of rows, and no session text', async () => {
    const { app } = await buildApp(engine, {
      env: {
        PETCUT_COST_BILLING: 'request', PETCUT_COST_FLUSH_S: '1', PETCUT_COST_LEDGER: join(dir, 'ledger-{instance}.sqlite'),
        PETCUT_JWT_SECRET: 'ledger-test-jwt-secret-at-least-32-chars', PETCUT_RATE_LIMIT_IP_PER_MIN: '60',
      },
    });
    const junk = (i: number): string => `${i}-`.padEnd(8000, 'x');
    for (let i = 0; i < 3000; i++) {
      const response = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-session-id': junk(i) } });
      expect(response.statusCode).toBe(200);
    }
    // Refused (401 without a token, 429 past the address's budget) and read requests naming 1000 different valid sessions.
    const statuses = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const session = `made-up-session-${i.toString().padStart(4, '0')}`;
      const response = await app.inject({ method: 'GET', url: `/v1/sessions/${session}/images`, headers: { 'x-session-id': session } });
      statuses.add(response.statusCode);
    }
    expect([...statuses].sort()).toEqual([401, 429]);
    const { entries, bytes } = await ledgerOf(app);
    const fees = entries.filter((e) => e.kind === 'requests');
    // Every request paid its fee...
    expect(fees.reduce((sum, e) => sum + e.requests, 0)).toBe(4000);
    // ...in a few rows (one per shop and fee window), none of them under a client's session text.
    expect(fees.length).toBeLessThanOrEqual(5);
    expect(entries.filter((e) => e.session !== undefined)).toEqual([]);
    expect(entries.length).toBeLessThanOrEqual(10);
    // SQLite's pages: a few of them, not tens of megabytes.
    expect(bytes).toBeLessThan(256 * 1024);
  });

  it('a session with real work keeps its own fee row; its made-up neighbours fold into the shop\'s', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_COST_BILLING: 'request', PETCUT_COST_LEDGER: join(dir, 'ledger-work-{instance}.sqlite') } });
    const worked = 'worked-session-0001';
    const cut = await app.inject({ method: 'POST', url: '/v1/cutouts?size=48', headers: { 'x-session-id': worked }, payload: form([{ data: await photo(64, 48) }]) });
    expect(cut.statusCode, cut.body).toBe(200);
    for (let i = 0; i < 200; i++) await app.inject({ method: 'GET', url: '/v1/effects', headers: { 'x-session-id': `idle-session-${String(i).padStart(4, '0')}` } });
    await app.inject({ method: 'GET', url: `/v1/sessions/${worked}/images` });
    await app.petcut.processing.drain();
    await app.close();
    const files = (await readdir(dir)).filter((name) => name.startsWith('ledger-work-') && name.endsWith('.sqlite'));
    const ledger = openLedger(join(dir, files[0]!), { readonly: true });
    const entries = ledger.read(0, Date.now() + 1000);
    ledger.close();
    const sessions = new Set(entries.map((e) => e.session).filter((s) => s !== undefined));
    expect([...sessions]).toEqual([worked]);
    expect(entries.filter((e) => e.kind === 'work')).toHaveLength(1);
    expect(entries.filter((e) => e.kind === 'requests').reduce((sum, e) => sum + e.requests, 0)).toBe(202);
  });
});
