import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterAll, describe, expect, it } from 'vitest';
import boundaries from '../eslint/boundaries.js';
import { findCycles } from '../eslint/cycles.js';

/**
 * The house rules fail on a planted violation (issue #13): `npm run lint`
 * applies them to the real tree; here each kind is planted in text (or in a
 * scratch tree, for circles) to show the rule catches it.
 */
const root = new URL('..', import.meta.url).pathname;
const eslint = new ESLint({
  cwd: root,
  overrideConfigFile: true,
  overrideConfig: [{
    files: ['**/*.ts', '**/*.js'],
    languageOptions: { parser: tseslint.parser },
    plugins: { petcut: boundaries },
    rules: { 'petcut/rooms': ['error', { root }], 'petcut/technology': ['error', { root }] },
  }],
});

async function messagesOf(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('rooms import inward', () => {
  it.each([
    ['src/engine/planted.ts', "import { sendError } from '../http/errors.js';", /src\/engine\/ must not import src\/http\//],
    ['src/image/planted.ts', "import type { Services } from '../service/index.js';", /src\/image\/ must not import src\/service\//],
    ['src/inference/planted.ts', "import { createEngine } from '../engine/index.js';", /src\/inference\/ must not import src\/engine\//],
    ['src/storage/planted.ts', "import type { AppContext } from '../http/context.js';", /src\/storage\/ must not import src\/http\//],
    ['src/effects/planted.ts', "import { createFsStore } from '../storage/fsStore.js';", /src\/effects\/ must not import src\/storage\//],
    ['src/observability/planted.ts', "import type { Jobs } from '../service/jobs.js';", /src\/observability\/ must not import src\/service\//],
    ['src/service/planted.ts', "import { createServer } from '../http/server.js';", /src\/service\/ must not import src\/http\//],
  ])('%s: %s', async (path, code, expected) => {
    expect(await messagesOf(path, code)).toEqual([expect.stringMatching(expected)]);
  });

  it('the engine room is entered by its door only', async () => {
    expect(await messagesOf('src/service/planted.ts', "import type { Segmentation } from '../engine/segment.js';")).toEqual([expect.stringMatching(/through its door, src\/engine\/index\.ts/)]);
    expect(await messagesOf('src/service/planted.ts', "import type { Engine } from '../engine/index.js';")).toEqual([]);
    expect(await messagesOf('src/engine/pipeline/planted.ts', "import type { Segmentation } from '../segment.js';")).toEqual([]);
  });

  it('web/ never imports src/', async () => {
    expect(await messagesOf('web/widget/planted.js', "import { ERRORS } from '../../src/errors.js';")).toEqual([expect.stringMatching(/web\/ is browser code/)]);
  });
});

describe('technologies stay in their adapters', () => {
  it.each([
    ['src/service/planted.ts', "import sharp from 'sharp';", /sharp is imported only in src\/image\/, src\/effects\//],
    ['src/engine/planted.ts', "import * as ort from 'onnxruntime-node';", /onnxruntime-node is imported only in src\/inference\//],
    ['src/http/planted.ts', "import { Storage } from '@google-cloud/storage';", /@google-cloud\/storage is imported only in src\/storage\//],
    ['src/service/planted.ts', "import { S3Client } from '@aws-sdk/client-s3';", /only in src\/storage\//],
    ['src/security/planted.ts', "import Redis from 'ioredis';", /ioredis is imported only in src\/security\/rateLimit\/redisStore\.ts/],
    ['src/cost/planted.ts', "import Database from 'better-sqlite3';", /better-sqlite3 is imported only in src\/cost\/ledger\.ts/],
  ])('%s: %s', async (path, code, expected) => {
    expect(await messagesOf(path, code)).toEqual([expect.stringMatching(expected)]);
  });

  it('the adapters themselves may', async () => {
    expect(await messagesOf('src/image/planted.ts', "import sharp from 'sharp';")).toEqual([]);
    expect(await messagesOf('src/inference/planted.ts', "import * as ort from 'onnxruntime-node';")).toEqual([]);
    expect(await messagesOf('src/security/rateLimit/redisStore.ts', "import Redis from 'ioredis';")).toEqual([]);
  });
});

describe('import circles', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'petcut-cycles-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), text);
  };

  it('a circle of type imports through three rooms is found; the real src/ has none', () => {
    write('src/engine/a.ts', "import type { C } from '../http/c.js';\nexport type A = C;\n");
    write('src/service/b.ts', "import type { A } from '../engine/a.js';\nexport type B = A;\n");
    write('src/http/c.ts', "import type { B } from '../service/b.js';\nexport type C = B;\n");
    write('src/http/d.ts', "import type { C } from './c.js';\nexport type D = C;\n");
    expect(findCycles(join(scratch, 'src'), scratch)).toEqual([['src/engine/a.ts', 'src/http/c.ts', 'src/service/b.ts']]);
    expect(findCycles(join(root, 'src'), root)).toEqual([]);
  });
});
