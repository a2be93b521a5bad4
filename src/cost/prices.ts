import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { PetcutError } from '../errors.js';

/**
 * The price list and budgets (deploy/cost/prices.yml): read once, checked
 * field by field, frozen. A bad file is a start-up error that names the
 * field, never a cost of NaN later.
 */
const numberError = (issue: { input?: unknown }): string => (issue.input === undefined ? 'is missing' : 'must be a number (USD)');
const usd = z.number({ error: numberError }).finite().min(0, 'must not be negative');
const positiveUsd = z.number({ error: numberError }).finite().positive('must be more than 0');

const BillingPrices = z.strictObject({ vcpuSecond: usd, gibSecond: usd, requestsPerMillion: usd });

const PriceFile = z.strictObject({
  currency: z.literal('USD', { error: 'must be USD (the metrics are petcut_cost_usd_total)' }),
  effective: z.union([z.string(), z.date()]).optional(),
  source: z.string().optional(),
  billing: z.strictObject({ instance: BillingPrices, request: BillingPrices }),
  gpus: z.record(z.string().regex(/^[a-z0-9-]+$/, 'GPU names are lower-case, like nvidia-l4'), z.strictObject({ second: usd })).default({}),
  budgets: z.strictObject({ daily: positiveUsd, weekly: positiveUsd, monthly: positiveUsd }),
});

export type Prices = z.infer<typeof PriceFile>;
export type BillingMode = keyof Prices['billing'];

/** The price file shipped with petcut (Cloud Run Tier 1 list prices). */
export const DEFAULT_PRICE_FILE = fileURLToPath(new URL('../../deploy/cost/prices.yml', import.meta.url));

export function parsePrices(text: string, source = 'price file'): Prices {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid ${source}: not YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const parsed = PriceFile.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const unknown = issue.code === 'unrecognized_keys';
    const path = unknown ? [...issue.path, issue.keys[0]!] : issue.path;
    const field = path.length > 0 ? path.join('.') : '(the file)';
    const detail = unknown ? 'unknown field (a typo?)' : issue.code === 'invalid_key' ? 'not a GPU name (lower-case, like nvidia-l4)' : issue.input === undefined && issue.code !== 'custom' ? 'is missing' : issue.message;
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid ${source}: ${field}: ${detail}`);
  }
  return deepFreeze(parsed.data);
}

export function loadPrices(path = DEFAULT_PRICE_FILE): Prices {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: PETCUT_COST_PRICES: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parsePrices(text, `price file ${path}`);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
