import type { ServiceRef } from '../ops/cloudrun/types.js';
import type { MitigationPolicy } from './policy.js';

/**
 * The mitigations' settings (read from env in src/config.ts, documented in
 * docs/mitigations.md and docs/configuration.md).
 */
export interface MitigationConfig {
  /** The bearer token Alertmanager sends (PETCUT_ALERT_WEBHOOK_TOKEN); absent: the receiver is closed (403). */
  readonly webhookToken?: string;
  /** The Cloud Run service whose scaling the cloud actions set; absent: those are skipped. */
  readonly service?: ServiceRef;
  /** The Admin API's root and a fixed token (tests, or a deployment without ADC); default: run.googleapis.com and ADC. */
  readonly cloudRunApi?: string;
  readonly cloudRunToken?: string;
  readonly policy: MitigationPolicy;
  readonly refreshMs: number;
  readonly reassertMs: number;
}

export const SERVICE_NAME = /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/locations\/([a-z0-9-]+)\/services\/([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

/** `projects/P/locations/R/services/S` as a ServiceRef (the pattern is checked where env is read). */
export function serviceRefOf(name: string | undefined): ServiceRef | undefined {
  const match = name === undefined ? null : SERVICE_NAME.exec(name);
  return match ? { project: match[1]!, region: match[2]!, service: match[3]! } : undefined;
}
