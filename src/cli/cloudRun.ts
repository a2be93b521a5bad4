import { createCloudRunClient, loadValues } from '../ops/index.js';
import type { CloudRunClient } from '../ops/cloudrun/rest.js';
import type { Environment, ServiceRef } from '../ops/index.js';

/**
 * What the Cloud Run commands (rollout, scale) share: which service, and the
 * Admin API client from the environment. The service comes from
 * deploy/cloudrun/<env>.yml unless --project/--region/--service say otherwise;
 * the token from PETCUT_CLOUD_RUN_TOKEN (default: Application Default
 * Credentials), the API root from PETCUT_CLOUD_RUN_API (tests: a loopback fake).
 */
export interface ServiceFlags {
  env?: Environment;
  values: string;
  project?: string;
  region?: string;
  service?: string;
}

export function serviceRefOf(flags: ServiceFlags, fallback: Environment = 'production'): ServiceRef {
  if (flags.project && flags.region && flags.service) return { project: flags.project, region: flags.region, service: flags.service };
  const values = loadValues(flags.env ?? fallback, flags.values);
  return { project: flags.project ?? values.project, region: flags.region ?? values.region, service: flags.service ?? values.service };
}

export function cloudRunFromEnv(env: NodeJS.ProcessEnv, options: { dryRun?: boolean; log?: (line: string) => void } = {}): CloudRunClient {
  const runToken = env.PETCUT_CLOUD_RUN_TOKEN;
  return createCloudRunClient({
    baseUrl: env.PETCUT_CLOUD_RUN_API || undefined,
    token: runToken ? () => Promise.resolve(runToken) : undefined,
    dryRun: options.dryRun,
    log: options.dryRun ? options.log : undefined,
  });
}
