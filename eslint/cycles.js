#!/usr/bin/env node
// Import circles in src/, type-only imports included (ESLint's no-cycle skips
// those, but a circle of types is still two rooms that know each other).
// `node eslint/cycles.js` exits 1 listing each circle; `npm run lint` runs it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every circle of relative imports among the .ts files under `dir`, as lists of paths relative to `root`. */
export function findCycles(dir, root = dir) {
  const files = sources(dir);
  const edges = new Map(files.map((file) => {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)].map((m) => resolve(dirname(file), (m[1] ?? m[2]).replace(/\.js$/, '.ts'))).filter((t) => t !== file);
    return [file, [...new Set(targets)]];
  }));
  // Tarjan's strongly connected components: a component of two or more files is a circle.
  let index = 0;
  const stack = [];
  const state = new Map();
  const circles = [];
  const visit = (file) => {
    state.set(file, { index, low: index, onStack: true });
    index++;
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      if (!edges.has(next)) continue;
      if (!state.has(next)) {
        visit(next);
        state.get(file).low = Math.min(state.get(file).low, state.get(next).low);
      } else if (state.get(next).onStack) {
        state.get(file).low = Math.min(state.get(file).low, state.get(next).index);
      }
    }
    if (state.get(file).low === state.get(file).index) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        state.get(member).onStack = false;
        component.push(relative(root, member));
      } while (member !== file);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return circles;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const circles = findCycles(join(root, 'src'), root);
  for (const circle of circles) console.error(`import circle: ${circle.join(' <-> ')}`);
  if (circles.length > 0) process.exit(1);
}
