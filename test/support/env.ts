import { loadEngineConfig } from '../../src/engine/index.js';
import type { EngineConfig } from '../../src/engine/index.js';

/**
 * The environment tests configure petcut from. Never the developer's shell
 * as a whole: PETCUT_MODEL, PETCUT_DEVICE, PETCUT_STORAGE, REDIS_URL or an
 * OTLP endpoint set there would change what the tests test. Tests start from
 * nothing and add what they are about.
 *
 * Passed through, because they only say where things are, never how petcut
 * behaves: where the model files are cached (assembled from the npm package
 * when absent, so either location works). The test infrastructure's own
 * variables (PETCUT_TEST_REDIS_URL, read by support/redis.ts; CI, read by
 * support/shared.ts) are read where they are used, not handed to petcut.
 */
const LOCATIONS = ['PETCUT_MODEL_CACHE_DIR', 'XDG_CACHE_HOME'] as const;

/** What the service and engine read besides PETCUT_*: kept out of child processes too. */
const SERVICE_VARIABLES = /^(PETCUT_|OTEL_)|^(REDIS_URL|PORT|GOOGLE_CLOUD_PROJECT|K_SERVICE|K_REVISION|K_CONFIGURATION)$/;

function locations(): Record<string, string> {
  return Object.fromEntries(LOCATIONS.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])));
}

/** An explicit env for loadServiceConfig / loadEngineConfig: the locations above plus `env`. */
export function testEnv(env: Record<string, string> = {}): Record<string, string> {
  return { ...locations(), ...env };
}

/** The engine config every test engine is built from (device `auto` unless the test says otherwise). */
export function testEngineConfig(env: Record<string, string> = {}): EngineConfig {
  return loadEngineConfig(testEnv(env));
}

/**
 * The env of a child process (the service, the CLI, npm): the parent's
 * (PATH, HOME, locale: what a process needs to run) without anything petcut
 * reads, then the locations above and `env`.
 */
export function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !SERVICE_VARIABLES.test(name)));
  return { ...inherited, ...locations(), ...env };
}
