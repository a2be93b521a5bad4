// The Cloud Run values files (deploy/cloudrun/base.yml + <environment>.yml) as
// a zod schema. Each check carries its own message so an error reads
// "variants.gpu.cpu: an L4 needs at least 4 vCPU"; unknown fields are errors
// (a typo would silently drop a setting). The Cloud Run limits checked here are
// the ones test/deploy.render.test.ts checks again on the rendered YAML, with
// the documentation's wording beside each.
import { z } from 'zod';

/** Secrets every environment references (the ones src/security/config.ts can read); REDIS_URL is optional. */
export const REQUIRED_SECRETS = ['PETCUT_SHOPIFY_API_SECRET', 'PETCUT_JWT_SECRET', 'PETCUT_OPERATOR_KEYS'] as const;
export const OPTIONAL_SECRETS = ['REDIS_URL'] as const;
const SECRET_ENV = [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS] as const;

/**
 * Env the manifest must not take from the values files: Cloud Run sets PORT and
 * K_* itself, and the image sets PETCUT_MODEL_CACHE_DIR (the verified model is
 * baked in there). Secrets come from `secrets:`, never as plain values.
 */
export const NOT_IN_ENV: Readonly<Record<string, string>> = {
  PORT: 'Cloud Run sets PORT itself',
  K_SERVICE: 'Cloud Run sets K_SERVICE itself',
  K_REVISION: 'Cloud Run sets K_REVISION itself',
  K_CONFIGURATION: 'Cloud Run sets K_CONFIGURATION itself',
  PETCUT_MODEL_CACHE_DIR: 'the image sets PETCUT_MODEL_CACHE_DIR (the model is baked in there)',
  ...Object.fromEntries(SECRET_ENV.map((name) => [name, `${name} is a secret: reference it under secrets: (Secret Manager), never as a value`])),
  ...Object.fromEntries(SECRET_ENV.map((name) => [`${name}_FILE`, `${name} comes from Secret Manager as an env reference (secrets:), not a mounted file`])),
};

// Cloud Run's vCPU values above 1 and the memory each allows (Configure CPU limits for services).
export const MEMORY_GIB_BY_CPU: Readonly<Record<number, readonly [number, number]>> = { 1: [0.125, 4], 2: [0.125, 8], 4: [2, 16], 6: [4, 24], 8: [4, 32] };
export const GPU_TYPES = ['nvidia-l4'] as const;
/** Cloud Run's minimum instance shape for an L4 (GPU support for services). */
export const L4_MINIMUM = { cpu: 4, memoryGiB: 16 } as const;

const NAME = /^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const seconds = (max: number) => z.number({ error: 'must be a whole number of seconds' }).int({ error: 'must be a whole number of seconds' }).min(1, { error: 'must be at least 1' }).max(max, { error: `must be at most ${max}` });

const probe = (maxPeriod: number) => z.strictObject({
  path: z.string().regex(/^\/[\w/-]*$/, { error: 'must be a path such as /readyz' }),
  initialDelaySeconds: z.number().int().min(0).max(maxPeriod, { error: `must be at most ${maxPeriod}` }).default(0),
  periodSeconds: seconds(maxPeriod),
  timeoutSeconds: seconds(maxPeriod),
  failureThreshold: z.number().int().min(1, { error: 'must be at least 1' }),
});

const envValue = z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' }).transform(String);
const envMap = z.record(z.string().regex(ENV_NAME, { error: 'env names are upper-case, like PETCUT_LOG_LEVEL' }), envValue);

const secretRef = z.strictObject({
  secret: z.string().regex(/^[a-zA-Z0-9_-]{1,255}$/, { error: 'must be a Secret Manager secret name (letters, digits, "-", "_")' }),
  // 'latest' or a version number (Cloud Run's SecretKeySelector: "'latest' ... or an integer for a specific version").
  version: z.union([z.literal('latest'), z.number().int().positive(), z.string().regex(/^[1-9]\d*$/)], { error: 'must be latest or a version number' }).transform(String).default('latest'),
});

const variant = z.strictObject({
  cpu: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(6), z.literal(8)], { error: 'must be 1, 2, 4, 6 or 8 (Cloud Run vCPU values)' }),
  memoryGiB: z.number({ error: 'must be a number of GiB' }).positive({ error: 'must be above 0' }),
  gpu: z.strictObject({
    type: z.enum(GPU_TYPES, { error: `must be ${GPU_TYPES.join(', ')} (Cloud Run offers no T4)` }),
    // false renders run.googleapis.com/gpu-zonal-redundancy-disabled: 'true' (the project only has non-zonal quota).
    zonalRedundancy: z.boolean({ error: 'must be true or false' }),
  }).optional(),
  billing: z.enum(['instance', 'request'], { error: 'must be instance or request' }),
  // Pipeline workers (PETCUT_CONCURRENCY) and waiting room (PETCUT_QUEUE_MAX): the same bounds as src/config.ts.
  concurrency: z.number().int().min(1).max(64, { error: 'must be at most 64 (PETCUT_CONCURRENCY)' }),
  queueMax: z.number().int().min(0).max(1000, { error: 'must be at most 1000 (PETCUT_QUEUE_MAX)' }),
  env: envMap.default({}),
});

export const valuesSchema = z.strictObject({
  environment: z.enum(['staging', 'production'], { error: 'must be staging or production' }),
  project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, { error: 'must be a Google Cloud project id (6-30 lower-case letters, digits, "-")' }),
  region: z.string().regex(/^[a-z]+-[a-z]+\d$/, { error: 'must be a region such as us-central1' }),
  repository: z.string().regex(NAME, { error: 'must be an Artifact Registry repository name' }),
  service: z.string().regex(NAME, { error: 'must be a service name (lower-case letters, digits, "-", at most 49)' }),
  serviceAccount: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, { error: 'must be a service account id (the part before @)' }),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, { error: 'must be a bucket name' }),
  ingress: z.enum(['all', 'internal', 'internal-and-cloud-load-balancing'], { error: 'must be all, internal or internal-and-cloud-load-balancing' }),
  executionEnvironment: z.enum(['gen1', 'gen2'], { error: 'must be gen1 or gen2' }),
  startupCpuBoost: z.boolean({ error: 'must be true or false' }),
  sessionAffinity: z.boolean({ error: 'must be true or false' }),
  dataDir: z.string().regex(/^\/tmp(\/[\w.-]+)+$/, { error: 'must be under /tmp (the only writable place in the container)' }),
  requestTimeoutSeconds: seconds(3600),
  // PETCUT_SHUTDOWN_TIMEOUT_S: main.ts ends the process 0.5 s after it, and Cloud Run's SIGKILL comes 10 s after SIGTERM.
  drainSeconds: z.number().min(1, { error: 'must be at least 1' }).max(9, { error: 'must be at most 9 (Cloud Run sends SIGKILL 10 s after SIGTERM; petcut exits 0.5 s after this)' }),
  probes: z.strictObject({ startup: probe(240), liveness: probe(3600) }),
  scaling: z.strictObject({ min: z.number().int().min(0), max: z.number().int().min(1) }),
  defaultVariant: z.enum(['cpu', 'gpu'], { error: 'must be cpu or gpu' }),
  variants: z.strictObject({ cpu: variant.optional(), gpu: variant.optional() }),
  env: envMap.default({}),
  secrets: z.partialRecord(z.enum(SECRET_ENV, { error: `must be one of ${SECRET_ENV.join(', ')}` }), secretRef),
});

export type DeployValues = z.output<typeof valuesSchema>;
export type Variant = z.output<typeof variant>;
export type VariantName = 'cpu' | 'gpu';
