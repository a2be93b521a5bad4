// The house rules as data, checked by `npm run lint` (part of `npm test`):
// which room may import which, and which package only its adapter may touch.
// A planted violation of each kind is linted in test/boundaries.test.ts.
import { dirname, relative, resolve } from 'node:path';

/**
 * Rooms, and the rooms each must not import. Arrows point inward: cli and
 * http on top, the service layer, the engine over image/ and inference/,
 * effects/ and storage/ as leaves; security/, observability/ and cost/
 * beside the core. A room is a folder (or a root file) under src/.
 */
export const ROOMS = {
  'src/engine/': ['src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/config.ts', 'src/cost/', 'src/security/'],
  'src/inference/': ['src/engine/', 'src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/config.ts', 'src/image/', 'src/effects/'],
  'src/image/': ['src/engine/', 'src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/config.ts', 'src/inference/', 'src/storage/'],
  'src/effects/': ['src/engine/', 'src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/config.ts', 'src/storage/', 'src/inference/'],
  'src/storage/': ['src/engine/', 'src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/config.ts', 'src/image/', 'src/effects/', 'src/inference/'],
  'src/service/': ['src/http/', 'src/cli/', 'src/app.ts', 'src/main.ts'],
  'src/observability/': ['src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts'],
  'src/cost/': ['src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts'],
  'src/security/': ['src/http/', 'src/service/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/engine/'],
  'src/eval/': ['src/http/', 'src/service/', 'src/app.ts', 'src/main.ts'],
  'src/slo/': ['src/http/', 'src/service/', 'src/engine/', 'src/app.ts', 'src/main.ts'],
  'src/http/': ['src/cli/', 'src/main.ts'],
  'src/ops/': ['src/http/', 'src/service/', 'src/engine/', 'src/cli/', 'src/app.ts', 'src/main.ts'],
  // The scaling schedule: pure calendar arithmetic, read by the service (warm-ups), cost (peak) and ops (apply, export).
  'src/scaling/': ['src/http/', 'src/service/', 'src/engine/', 'src/cli/', 'src/app.ts', 'src/main.ts', 'src/ops/', 'src/cost/', 'src/security/', 'src/observability/', 'src/mitigation/'],
  // Alert-driven mitigations: policy over the scaling schedule, the Cloud Run client and the service's knobs (given as callbacks).
  'src/mitigation/': ['src/http/', 'src/service/', 'src/engine/', 'src/cli/', 'src/app.ts', 'src/main.ts'],
};

/** The engine room's one door: from outside src/engine/, only its index may be imported. */
export const DOORS = { 'src/engine/': 'src/engine/index.ts' };

/** Packages (or package prefixes) and the only places that may import them. */
export const ADAPTERS = {
  'sharp': ['src/image/', 'src/effects/'],
  'onnxruntime-node': ['src/inference/'],
  '@google-cloud/': ['src/storage/'],
  '@aws-sdk/': ['src/storage/'],
  'ioredis': ['src/security/rateLimit/redisStore.ts', 'src/service/redisSharedState.ts', 'src/mitigation/redisStore.ts'],
  'better-sqlite3': ['src/cost/ledger.ts'],
  '@opentelemetry/sdk-': ['src/observability/tracing.ts'],
  '@opentelemetry/exporter-': ['src/observability/tracing.ts'],
  'prom-client': ['src/observability/metrics.ts'],
  'google-auth-library': ['src/ops/cloudrun/auth.ts'],
};

/** Browser code never imports the server's source. */
export const WEB = { room: 'web/', forbidden: ['src/'] };

const within = (path, place) => (place.endsWith('/') ? path.startsWith(place) : path === place);

function roomOf(path) {
  return Object.keys(ROOMS).find((room) => within(path, room));
}

/** `./x.js` from a file, as a path relative to the repository (the .ts it compiles from). */
function target(root, file, spec) {
  const absolute = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
  return relative(root, absolute).split('\\').join('/');
}

const rooms = {
  meta: { type: 'problem', docs: { description: 'rooms import only inward (eslint/boundaries.js)' }, schema: [{ type: 'object', properties: { root: { type: 'string' } } }] },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = relative(root, context.filename).split('\\').join('/');
    const room = roomOf(file);
    const web = file.startsWith(WEB.room);
    return {
      ImportDeclaration(node) { check(node, node.source.value); },
      ExportNamedDeclaration(node) { if (node.source) check(node, node.source.value); },
      ExportAllDeclaration(node) { check(node, node.source.value); },
      ImportExpression(node) { if (node.source.type === 'Literal') check(node, node.source.value); },
    };
    function check(node, spec) {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = target(root, context.filename, spec);
      if (web) {
        const bad = WEB.forbidden.find((place) => within(to, place));
        if (bad) context.report({ node, message: `web/ is browser code: it never imports ${bad} (${to}).` });
        return;
      }
      const bad = room && ROOMS[room].find((place) => within(to, place));
      if (bad) context.report({ node, message: `${room} must not import ${bad} (${to}): arrows point inward (CONTRIBUTING.md, Layout).` });
      for (const [door, entry] of Object.entries(DOORS)) {
        if (within(to, door) && !within(file, door) && to !== entry) {
          context.report({ node, message: `Import ${door} through its door, ${entry} (not ${to}).` });
        }
      }
    }
  },
};

const technology = {
  meta: { type: 'problem', docs: { description: 'a technology only in its adapter (eslint/boundaries.js)' }, schema: [{ type: 'object', properties: { root: { type: 'string' } } }] },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = relative(root, context.filename).split('\\').join('/');
    if (!file.startsWith('src/')) return {};
    return {
      ImportDeclaration(node) { check(node, node.source.value); },
      ImportExpression(node) { if (node.source.type === 'Literal') check(node, node.source.value); },
    };
    function check(node, spec) {
      if (typeof spec !== 'string' || spec.startsWith('.')) return;
      for (const [pkg, places] of Object.entries(ADAPTERS)) {
        const matches = pkg.endsWith('/') || pkg.endsWith('-') ? spec.startsWith(pkg) : spec === pkg || spec.startsWith(`${pkg}/`);
        if (matches && !places.some((place) => within(file, place))) {
          context.report({ node, message: `${spec} is imported only in ${places.join(', ')} (its adapter), not in ${file}.` });
        }
      }
    }
  },
};

export default { rules: { rooms, technology } };
