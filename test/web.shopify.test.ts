import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { EFFECTS } from '../src/effects/registry.js';

/**
 * The Shopify theme app extension (web/shopify/extensions/petcut-uploader): Shopify's layout, the blocks' schemas,
 * assets byte-identical to web/widget (copied by scripts/web/shopify-assets.mjs: not kept in git), and the size limits Shopify sets (cited below; docs/shopify.md).
 */
const EXT = join(process.cwd(), 'web', 'shopify', 'extensions', 'petcut-uploader');
const WIDGET = join(process.cwd(), 'web', 'widget');

/**
 * Shopify's limits for a theme app extension ("Configure theme app extensions: file and content size limits",
 * shopify.dev/docs/apps/build/online-store/theme-app-extensions/configuration; theme-check AssetSizeAppBlockJavaScript
 * and AssetSizeAppBlockCSS; changelog 2022-07-28 for locale files, 2026-02-03 for 30 app blocks).
 */
const LIMITS = {
  totalBytes: 10 * 1024 * 1024, // all files of the extension
  liquidBytes: 100 * 1024, // all Liquid files together
  localeBytes: 15 * 1024, // each locale file
  appBlocks: 30, // blocks per extension
  scriptGzipBytes: 10_000, // the suggested compressed size of a block's JavaScript
};

const files = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
  const full = join(dir, name);
  return statSync(full).isDirectory() ? files(full) : [full];
});

function schemaOf(file: string): Record<string, unknown> {
  const match = /\{%\s*schema\s*%\}([\s\S]*?)\{%\s*endschema\s*%\}/.exec(readFileSync(file, 'utf8'));
  expect(match, `${file} has a {% schema %}`).not.toBeNull();
  return JSON.parse(match![1]!) as Record<string, unknown>;
}

describe('Shopify theme app extension', () => {
  // The assets are made from web/widget before a deploy (docs/shopify.md), as here.
  beforeAll(() => void execFileSync(process.execPath, ['scripts/web/shopify-assets.mjs'], { encoding: 'utf8' }));

  it('follows Shopify\'s layout: shopify.extension.toml (type theme), blocks/, assets/, locales/en.default.json', () => {
    const toml = readFileSync(join(EXT, 'shopify.extension.toml'), 'utf8');
    expect(toml).toMatch(/^type = "theme"$/m);
    expect(toml).toMatch(/^name = "petcut-uploader"$/m);
    const top = new Set(readdirSync(EXT));
    for (const name of ['blocks', 'assets', 'locales', 'shopify.extension.toml']) expect(top.has(name)).toBe(true);
    for (const name of top) expect(['blocks', 'assets', 'locales', 'snippets', 'shopify.extension.toml', 'package.json']).toContain(name);
    expect(() => JSON.parse(readFileSync(join(EXT, 'locales', 'en.default.json'), 'utf8'))).not.toThrow();
  });

  it('assets are byte-identical copies of web/widget\'s modules (scripts/web/shopify-assets.mjs --check)', () => {
    const modules = readdirSync(WIDGET).filter((n) => n.endsWith('.js')).sort();
    expect(readdirSync(join(EXT, 'assets')).filter((n) => n.endsWith('.js')).sort()).toEqual(modules);
    for (const name of modules) expect(readFileSync(join(EXT, 'assets', name)).equals(readFileSync(join(WIDGET, name))), name).toBe(true);
    expect(() => execFileSync(process.execPath, ['scripts/web/shopify-assets.mjs', '--check'], { encoding: 'utf8' })).not.toThrow();
  });

  it('the app block: a section block with the settings the widget reads, styles from the registry, every t key in the locale', () => {
    const file = join(EXT, 'blocks', 'petcut-uploader.liquid');
    const schema = schemaOf(file) as { target: string; settings: { id?: string; type: string; options?: { value: string }[]; default?: unknown }[] };
    expect(schema.target).toBe('section');
    const ids = schema.settings.map((s) => s.id).filter(Boolean);
    for (const id of ['service_url', 'proxy_path', 'default_effect', 'effects', 'max_upload_mb', 'title', 'choose', 'hint']) expect(ids).toContain(id);
    const effect = schema.settings.find((s) => s.id === 'default_effect')!;
    expect(effect.options!.map((o) => o.value).sort()).toEqual(Object.keys(EFFECTS).sort());
    expect(Object.keys(EFFECTS)).toContain(effect.default);
    expect(schema.settings.find((s) => s.id === 'proxy_path')!.default).toBe('/apps/petcut');
    const liquid = readFileSync(file, 'utf8');
    for (const attribute of ['service-url', 'proxy-path', 'default-effect', 'effects', 'max-upload-mb', 'pet-product', 'lang', 'form']) expect(liquid).toContain(`${attribute}`);
    expect(liquid).toContain('<script type="module" src="{{ \'petcut-uploader.js\' | asset_url }}"></script>');
    expect(liquid).toContain('slot="labels"');
    const locale = JSON.parse(readFileSync(join(EXT, 'locales', 'en.default.json'), 'utf8')) as Record<string, Record<string, Record<string, string>>>;
    for (const [, key] of liquid.matchAll(/'petcut\.uploader\.(\w+)' \| t/g)) expect(locale.petcut!.uploader![key!], key).toBeTypeOf('string');
  });

  it('the app embed: target head, loads the warm-up module on product pages', () => {
    const file = join(EXT, 'blocks', 'petcut-embed.liquid');
    const schema = schemaOf(file) as { target: string; settings: { id: string }[] };
    expect(schema.target).toBe('head');
    expect(schema.settings.map((s) => s.id)).toEqual(expect.arrayContaining(['service_url', 'proxy_path']));
    const liquid = readFileSync(file, 'utf8');
    expect(liquid).toContain('petcut-warmup.js');
    expect(liquid).toContain("template.name == 'product'");
  });

  it('stays inside Shopify\'s size limits', () => {
    const all = files(EXT);
    const bytes = (list: string[]): number => list.reduce((sum, f) => sum + statSync(f).size, 0);
    expect(bytes(all)).toBeLessThan(LIMITS.totalBytes);
    expect(bytes(all.filter((f) => f.endsWith('.liquid')))).toBeLessThan(LIMITS.liquidBytes);
    for (const f of all.filter((p) => relative(EXT, p).startsWith('locales'))) expect(statSync(f).size, f).toBeLessThan(LIMITS.localeBytes);
    expect(readdirSync(join(EXT, 'blocks')).filter((n) => n.endsWith('.liquid')).length).toBeLessThanOrEqual(LIMITS.appBlocks);
    // The block loads only the first-load module; the rest is imported on interaction.
    expect(gzipSync(readFileSync(join(EXT, 'assets', 'petcut-uploader.js')), { level: 9 }).length).toBeLessThan(LIMITS.scriptGzipBytes);
    expect(gzipSync(readFileSync(join(EXT, 'assets', 'petcut-warmup.js')), { level: 9 }).length).toBeLessThan(LIMITS.scriptGzipBytes);
  });
});
