import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EFFECTS } from '../src/effects/registry.js';
import { ERRORS } from '../src/errors.js';
import { MODELS } from '../src/inference/models.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const text = (path: string): string => readFileSync(join(root, path), 'utf8');
const DOCS = ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

const withoutFences = (markdown: string): string => markdown.replace(/^```[\s\S]*?^```/gm, '');

/** Markdown without fenced blocks and inline code, where `[a](b)` is not a link. */
function prose(markdown: string): string {
  return withoutFences(markdown).replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, heading] of withoutFences(markdown).replace(/`/g, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count ? `${slug}-${count}` : slug);
  }
  return found;
}

/** Relative links of a document: [target file relative to the repository, anchor]. */
function relativeLinks(path: string): Array<{ link: string; file: string; anchor?: string }> {
  const links = [...prose(text(path)).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
  return links.filter((link) => !/^[a-z][a-z0-9+.-]*:/i.test(link)).map((link) => {
    const [target, anchor] = link.split('#') as [string, string | undefined];
    const file = target === '' ? path : relative(root, resolve(root, dirname(path), decodeURIComponent(target)));
    return { link, file, anchor };
  });
}

describe('README', () => {
  const readme = text('README.md');

  it('fits a newcomer: at most 250 lines', () => {
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(250);
  });

  it('warns about the AGPL-3.0 weights on its first screen (40 lines)', () => {
    const firstScreen = readme.split('\n').slice(0, 40).join('\n');
    expect(firstScreen).toMatch(/AGPL-3\.0/);
    expect(firstScreen).toContain('@imgly/background-removal-data');
    expect(firstScreen).toContain('PETCUT_MODEL=');
  });
});

describe('links', () => {
  it('the link reader finds relative links and anchors, and skips code and URLs', () => {
    expect(anchors('# GPU (CUDA)\n## `petcut model`\n## Notes\n## Notes\n```sh\n# a comment\n```\n')).toEqual(new Set(['gpu-cuda', 'petcut-model', 'notes', 'notes-1']));
    expect(prose('see [a](x.md) `[b](y.md)`\n```\n[c](z.md)\n```\n')).not.toMatch(/y\.md|z\.md/);
  });

  it.each(DOCS)('every relative link in %s points at a file (and heading) that exists', (path) => {
    const broken = relativeLinks(path).filter(({ file, anchor }) => {
      if (!existsSync(join(root, file))) return true;
      return anchor !== undefined && file.endsWith('.md') && !anchors(text(file)).has(anchor);
    });
    expect(broken.map(({ link }) => link)).toEqual([]);
  });
});

describe('docs/http-api.md', () => {
  it('lists every coded error of src/errors.ts with its HTTP status', () => {
    const rows = new Map([...text('docs/http-api.md').matchAll(/^\|\s*`(PETCUT_E_[A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [m[1]!, Number(m[2])]));
    const wrong = Object.entries(ERRORS)
      .filter(([code, { status }]) => rows.get(code) !== status)
      .map(([code, { status }]) => `${code}: ${status} in src/errors.ts, ${rows.get(code) ?? 'missing'} in docs/http-api.md`);
    expect(wrong).toEqual([]);
    expect([...rows.keys()].filter((code) => !(code in ERRORS))).toEqual([]);
  });
});

describe('docs/effects.md', () => {
  it('has one row per registered effect, in the registry order', () => {
    const rows = [...text('docs/effects.md').matchAll(/^\|\s*`([a-z0-9]+)`\s*\|/gm)].map((m) => m[1]);
    expect(rows).toEqual(Object.keys(EFFECTS));
  });
});

describe('docs/models.md', () => {
  it('names every registered model', () => {
    const doc = text('docs/models.md');
    expect(Object.keys(MODELS).filter((name) => !doc.includes('`' + name + '`'))).toEqual([]);
  });
});
