import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../errors.js';
import { PetcutError } from '../errors.js';
import { containerMemoryLimit } from '../observability/memory.js';
import { DEFAULT_PRICE_FILE, loadPrices } from './prices.js';
import type { BillingMode, Prices } from './prices.js';

/**
 * What this instance costs: the price file, the billing mode and the
 * instance's shape (vCPUs, memory, GPUs). The shape defaults to what the
 * container is given (cgroup CPU quota and memory limit, /dev/nvidia*
 * devices), which on Cloud Run is what it bills for.
 */
const EnvSchema = z.object({
  PETCUT_COST_PRICES: z.string().min(1).optional(),
  PETCUT_COST_BILLING: z.enum(['auto', 'instance', 'request']).default('auto'),
  PETCUT_COST_VCPUS: z.coerce.number().positive().max(1024).optional(),
  PETCUT_COST_MEMORY_GIB: z.coerce.number().positive().max(4096).optional(),
  PETCUT_COST_GPUS: z.union([z.literal('auto'), z.coerce.number().int().min(0).max(16)]).default('auto'),
  PETCUT_COST_GPU_TYPE: z.string().min(1).default('nvidia-l4'),
  // A path, `off`, or unset: <PETCUT_DATA_DIR>/cost/ledger-{instance}.sqlite. `{instance}` is replaced by the instance id.
  PETCUT_COST_LEDGER: z.string().min(1).optional(),
  // How often buffered entries are written (a crash loses at most this much of the ledger; the metrics keep counting).
  PETCUT_COST_FLUSH_S: z.coerce.number().min(1).max(3600).default(5),
  // With cloud storage, how often a copy of the ledger goes to the bucket (cost/ledgers/<instance>.sqlite); 0: never.
  // Cloud Run's disk goes with the instance: the copy is what `petcut cost report --store` reads.
  PETCUT_COST_UPLOAD_S: z.coerce.number().int().min(0).max(86_400).default(300),
});

export interface CostConfig {
  readonly prices: Prices;
  readonly pricesPath: string;
  readonly billing: BillingMode;
  readonly vcpus: number;
  readonly memoryGiB: number;
  readonly gpus: number;
  readonly gpuType: string;
  /** USD per second of instance time, by kind. */
  readonly rates: Readonly<Record<'vcpu' | 'memory' | 'gpu', number>>;
  /** USD per request (request-based billing). */
  readonly requestFee: number;
  /** Ledger file pattern (`{instance}` is replaced), or undefined for none. */
  readonly ledger?: string;
  readonly flushMs: number;
  /** How often a copy of the ledger is uploaded to cloud storage (0: never). */
  readonly uploadMs: number;
}

const GIB = 1024 ** 3;

export function loadCostConfig(env: NodeJS.ProcessEnv, dataDir: string): CostConfig {
  const e = parseEnv(EnvSchema, env);
  const pricesPath = e.PETCUT_COST_PRICES ?? DEFAULT_PRICE_FILE;
  const prices = loadPrices(pricesPath);
  const gpus = e.PETCUT_COST_GPUS === 'auto' ? gpuDevices() : e.PETCUT_COST_GPUS;
  const gpuPrice = prices.gpus[e.PETCUT_COST_GPU_TYPE];
  if (gpus > 0 && !gpuPrice) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: PETCUT_COST_GPU_TYPE: ${e.PETCUT_COST_GPU_TYPE} has no price in ${pricesPath} (gpus: ${Object.keys(prices.gpus).join(', ') || 'none'})`);
  }
  // Cloud Run bills GPU instances for their whole lifetime (instance-based billing is required with a GPU).
  const billing: BillingMode = e.PETCUT_COST_BILLING === 'auto' ? (gpus > 0 ? 'instance' : 'request') : e.PETCUT_COST_BILLING;
  const vcpus = e.PETCUT_COST_VCPUS ?? cpuQuota() ?? availableParallelism();
  const memoryGiB = e.PETCUT_COST_MEMORY_GIB ?? (containerMemoryLimit() ?? totalmem()) / GIB;
  const list = prices.billing[billing];
  const ledger = e.PETCUT_COST_LEDGER === 'off' ? undefined : e.PETCUT_COST_LEDGER ?? join(dataDir, 'cost', 'ledger-{instance}.sqlite');
  return Object.freeze({
    prices, pricesPath, billing, vcpus, memoryGiB, gpus, gpuType: e.PETCUT_COST_GPU_TYPE,
    rates: Object.freeze({ vcpu: vcpus * list.vcpuSecond, memory: memoryGiB * list.gibSecond, gpu: gpus * (gpuPrice?.second ?? 0) }),
    requestFee: list.requestsPerMillion / 1e6,
    ledger,
    flushMs: e.PETCUT_COST_FLUSH_S * 1000,
    uploadMs: e.PETCUT_COST_UPLOAD_S * 1000,
  });
}

/** The container's CPU quota (cgroup v2 cpu.max "quota period"), in vCPUs. */
function cpuQuota(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    const vcpus = Number(quota) / Number(period);
    return quota !== 'max' && Number.isFinite(vcpus) && vcpus > 0 ? vcpus : undefined;
  } catch {
    return undefined;
  }
}

/** GPUs the container can reach (/dev/nvidia0, /dev/nvidia1, ...): counted without starting nvidia-smi. */
function gpuDevices(): number {
  try {
    return readdirSync('/dev').filter((name) => /^nvidia\d+$/.test(name)).length;
  } catch {
    return 0;
  }
}
