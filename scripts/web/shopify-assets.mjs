#!/usr/bin/env node
// Copies the widget's modules (web/widget/*.js) into the Shopify theme app extension's assets/, byte for byte, so the
// theme loads the same code the service serves at /widget/. The copies are not kept in git (.gitignore): run this
// before `shopify app deploy` (docs/shopify.md). `--check` only says whether the copies are current
// (exit 1 when not); test/web.shopify.test.ts checks it too.
// Usage: node scripts/web/shopify-assets.mjs [--check]
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const from = join(root, 'web', 'widget');
const to = join(root, 'web', 'shopify', 'extensions', 'petcut-uploader', 'assets');
const args = process.argv.slice(2);
if (args.includes('--help') || args.some((a) => a !== '--check')) {
  console.log('Usage: node scripts/web/shopify-assets.mjs [--check]\n  copies web/widget/*.js to web/shopify/extensions/petcut-uploader/assets/\n  --check  only compare (exit 1 when a copy is missing, stale or extra)\nExample: node scripts/web/shopify-assets.mjs && git diff --stat web/shopify');
  process.exit(args.includes('--help') ? 0 : 2);
}
const check = args.includes('--check');
const modules = readdirSync(from).filter((name) => name.endsWith('.js')).sort();
if (!check) mkdirSync(to, { recursive: true });
const copies = existsSync(to) ? readdirSync(to).filter((name) => name.endsWith('.js')).sort() : [];
const stale = modules.filter((name) => !copies.includes(name) || !readFileSync(join(from, name)).equals(readFileSync(join(to, name))));
const extra = copies.filter((name) => !modules.includes(name));
if (check) {
  for (const name of stale) console.log(`stale or missing: assets/${name}`);
  for (const name of extra) console.log(`not in web/widget: assets/${name}`);
  process.exit(stale.length || extra.length ? 1 : 0);
}
for (const name of stale) copyFileSync(join(from, name), join(to, name));
for (const name of extra) rmSync(join(to, name));
console.log(`assets/: ${modules.length} modules (${stale.length} copied, ${extra.length} removed)`);
