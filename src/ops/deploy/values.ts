// Reads deploy/cloudrun/base.yml and <environment>.yml, merges them (the
// environment's file wins, mappings merge key by key) and validates the result.
// Every error is a PETCUT_E_INVALID_CONFIG that names the file, the field and
// what is allowed, e.g. "deploy/cloudrun/production.yml: variants.gpu.cpu: an
// nvidia-l4 needs at least 4 vCPU", so a bad edit is fixed without reading code.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { PetcutError } from '../../errors.js';
import { L4_MINIMUM, MEMORY_GIB_BY_CPU, NOT_IN_ENV, REQUIRED_SECRETS, valuesSchema } from './schema.js';
import type { DeployValues, VariantName } from './schema.js';

export const ENVIRONMENTS = ['staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
export const DEFAULT_VALUES_DIR = 'deploy/cloudrun';

/** Env the renderer derives from other values: a values file that sets one directly is refused (one source). */
export const MANAGED_ENV = [
  'PETCUT_DATA_DIR', 'PETCUT_STORAGE', 'PETCUT_BUCKET', 'PETCUT_GCS_PROJECT', 'PETCUT_CONCURRENCY', 'PETCUT_QUEUE_MAX',
  'PETCUT_THREADS', 'PETCUT_DEVICE', 'PETCUT_MEMORY_LIMIT_MB', 'PETCUT_SHUTDOWN_TIMEOUT_S',
  'PETCUT_COST_BILLING', 'PETCUT_COST_VCPUS', 'PETCUT_COST_MEMORY_GIB', 'PETCUT_COST_GPUS', 'PETCUT_COST_GPU_TYPE',
] as const;

type Raw = Record<string, unknown>;
interface Source { readonly file: string; readonly data: Raw }

const isMapping = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Mappings merge key by key; anything else in `over` replaces what `base` had. */
export function mergeValues(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = isMapping(value) && isMapping(base[key]) ? mergeValues(base[key], value) : value;
  return out;
}

/** `variants.gpu.cpu` from zod's ['variants', 'gpu', 'cpu']. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(top level)';
}

function has(data: unknown, path: readonly PropertyKey[]): boolean {
  let here = data;
  for (const key of path) {
    if (!isMapping(here) || !(String(key) in here)) return false;
    here = here[String(key)];
  }
  return true;
}

/** The file a field came from: the environment's file if it sets it, else base.yml; a missing field names both. */
function originOf(path: readonly PropertyKey[], sources: readonly Source[]): string {
  const setter = [...sources].reverse().find((source) => has(source.data, path));
  return setter?.file ?? sources.map((source) => source.file).join(' or ');
}

function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; text: string } {
  if (issue.code === 'unrecognized_keys') return { path: [...issue.path, issue.keys[0]!], text: 'unknown field (a typo?)' };
  if (issue.code === 'invalid_type' && issue.input === undefined) return { path: [...issue.path], text: 'is required' };
  return { path: [...issue.path], text: issue.message };
}

function invalid(problems: ReadonlyArray<{ path: readonly PropertyKey[]; text: string }>, sources: readonly Source[]): PetcutError {
  const lines = problems.map(({ path, text }) => `${originOf(path, sources)}: ${fieldPath(path)}: ${text}`);
  return new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid Cloud Run values: ${lines.join('; ')}`);
}

/** Rules that span fields: Cloud Run's CPU/memory/GPU table, probe timing, one source for each env variable. */
function crossChecks(values: DeployValues): Array<{ path: PropertyKey[]; text: string }> {
  const problems: Array<{ path: PropertyKey[]; text: string }> = [];
  for (const [name, variant] of Object.entries(values.variants) as Array<[VariantName, DeployValues['variants']['cpu']]>) {
    if (!variant) continue;
    const at = (field: string): PropertyKey[] => ['variants', name, field];
    const [low, high] = MEMORY_GIB_BY_CPU[variant.cpu]!;
    if (variant.memoryGiB < low || variant.memoryGiB > high) problems.push({ path: at('memoryGiB'), text: `${variant.cpu} vCPU allows ${low} to ${high} GiB` });
    if (name === 'gpu' && !variant.gpu) problems.push({ path: at('gpu'), text: 'is required in the gpu variant (type, zonalRedundancy)' });
    if (name === 'cpu' && variant.gpu) problems.push({ path: at('gpu'), text: 'must not be set in the cpu variant' });
    if (variant.gpu) {
      if (variant.cpu < L4_MINIMUM.cpu) problems.push({ path: at('cpu'), text: `an ${variant.gpu.type} needs at least ${L4_MINIMUM.cpu} vCPU` });
      if (variant.memoryGiB < L4_MINIMUM.memoryGiB) problems.push({ path: at('memoryGiB'), text: `an ${variant.gpu.type} needs at least ${L4_MINIMUM.memoryGiB} GiB` });
      if (variant.billing !== 'instance') problems.push({ path: at('billing'), text: 'must be instance: Cloud Run requires instance-based billing with a GPU' });
    }
    if (variant.concurrency + variant.queueMax > 1000) problems.push({ path: at('queueMax'), text: 'concurrency + queueMax is the container concurrency, at most 1000' });
    problems.push(...envChecks(variant.env, ['variants', name, 'env']));
  }
  for (const kind of ['startup', 'liveness'] as const) {
    const probe = values.probes[kind];
    if (probe.timeoutSeconds > probe.periodSeconds) problems.push({ path: ['probes', kind, 'timeoutSeconds'], text: `must not exceed periodSeconds (${probe.periodSeconds})` });
  }
  const startup = values.probes.startup;
  if (startup.failureThreshold * startup.periodSeconds > 240) problems.push({ path: ['probes', 'startup', 'failureThreshold'], text: `failureThreshold x periodSeconds must be at most 240 s (is ${startup.failureThreshold * startup.periodSeconds})` });
  if (values.scaling.max < values.scaling.min) problems.push({ path: ['scaling', 'max'], text: `must be at least scaling.min (${values.scaling.min})` });
  if (!values.variants[values.defaultVariant]) problems.push({ path: ['defaultVariant'], text: `names a variant the file does not define (variants: ${definedVariants(values).join(', ') || 'none'})` });
  for (const name of REQUIRED_SECRETS) if (!values.secrets[name]) problems.push({ path: ['secrets', name], text: 'is required (a Secret Manager reference)' });
  for (const [name, ref] of Object.entries(values.secrets)) {
    const prefix = `petcut-${values.environment}-`;
    if (ref && !ref.secret.startsWith(prefix)) problems.push({ path: ['secrets', name, 'secret'], text: `must start with ${prefix} (each environment has its own secrets)` });
  }
  problems.push(...envChecks(values.env, ['env']));
  // petcut cuts a slow upload off with its own 408 before Cloud Run's 504 (src/security/config.ts: default 120 s).
  const own = Number(values.env.PETCUT_REQUEST_TIMEOUT_S ?? 120);
  if (!(own < values.requestTimeoutSeconds)) problems.push({ path: ['env', 'PETCUT_REQUEST_TIMEOUT_S'], text: `must be below requestTimeoutSeconds (${values.requestTimeoutSeconds}), so petcut answers a slow upload before Cloud Run's 504` });
  return problems;
}

function envChecks(env: Readonly<Record<string, string>>, at: PropertyKey[]): Array<{ path: PropertyKey[]; text: string }> {
  return Object.keys(env).flatMap((name) => {
    const reason = NOT_IN_ENV[name] ?? ((MANAGED_ENV as readonly string[]).includes(name) ? `the renderer sets ${name} from the other values` : undefined);
    return reason ? [{ path: [...at, name], text: `must not be set: ${reason}` }] : [];
  });
}

export function definedVariants(values: DeployValues): VariantName[] {
  return (['cpu', 'gpu'] as const).filter((name) => values.variants[name]);
}

function parseYaml(text: string, file: string): Raw {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const error = document.errors[0];
  if (error) throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid Cloud Run values: ${file}: not valid YAML: ${error.message.split('\n')[0]}`);
  const data: unknown = document.toJS();
  if (data === null || data === undefined) return {};
  if (!isMapping(data)) throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid Cloud Run values: ${file}: must be a mapping of fields`);
  return data;
}

/** Validates already-read values files (base first); `file` names each in errors. */
export function parseValues(files: ReadonlyArray<{ file: string; text: string }>): DeployValues {
  const sources = files.map(({ file, text }) => ({ file, data: parseYaml(text, file) }));
  const merged = sources.reduce<Raw>((all, source) => mergeValues(all, source.data), {});
  const result = valuesSchema.safeParse(merged, { reportInput: true });
  if (!result.success) throw invalid(result.error.issues.map(describeIssue), sources);
  const problems = crossChecks(result.data);
  if (problems.length > 0) throw invalid(problems, sources);
  return result.data;
}

/** Reads `<dir>/base.yml` and `<dir>/<environment>.yml`. */
export function loadValues(environment: Environment, dir = DEFAULT_VALUES_DIR): DeployValues {
  const files = ['base.yml', `${environment}.yml`].map((name) => {
    const file = join(dir, name);
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (error) {
      throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid Cloud Run values: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  });
  const values = parseValues(files);
  if (values.environment !== environment) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid Cloud Run values: ${files[1]!.file}: environment: is ${values.environment}, expected ${environment}`);
  }
  return values;
}
