import { z } from 'zod';
import { PetcutError } from '../errors.js';

/**
 * Alertmanager's webhook payload, version 4
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
 * checked field by field: a malformed one is refused with
 * PETCUT_E_INVALID_ALERT (400) before anything acts on it. Fields a later
 * Alertmanager may add are ignored, not refused: refusing them would switch
 * every mitigation off at an Alertmanager upgrade.
 */
/** Labels and annotations: bounded, as everything that arrives in a request is. */
const strings = z.record(z.string().min(1).max(200), z.string().max(4000)).refine((r) => Object.keys(r).length <= 64, { error: 'at most 64 entries' });
/** RFC 3339 with a zone; Alertmanager writes "0001-01-01T00:00:00Z" for "no end yet". */
const time = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, { error: 'must be an RFC 3339 time' });
const status = z.enum(['firing', 'resolved']);

const AlertSchema = z.object({
  status,
  labels: strings.refine((labels) => typeof labels.alertname === 'string' && labels.alertname.length > 0, { error: 'must name the alert (alertname)' }),
  annotations: strings,
  startsAt: time,
  endsAt: time,
  generatorURL: z.string().max(4000),
  fingerprint: z.string().regex(/^[0-9a-f]{1,32}$/, { error: 'must be Alertmanager\'s hexadecimal fingerprint' }),
});

// A group holds every alert of one alertname and service: a few, never thousands.
export const MAX_ALERTS = 500;

const PayloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string().max(4000),
  truncatedAlerts: z.number().int().min(0).default(0),
  status,
  receiver: z.string().max(200),
  groupLabels: strings,
  commonLabels: strings,
  commonAnnotations: strings,
  externalURL: z.string().max(4000),
  alerts: z.array(AlertSchema).min(1).max(MAX_ALERTS),
});

export type AlertmanagerPayload = z.output<typeof PayloadSchema>;
export type AlertmanagerAlert = AlertmanagerPayload['alerts'][number];

/** The payload, or PETCUT_E_INVALID_ALERT naming the first wrong field. */
export function parseAlertPayload(body: unknown): AlertmanagerPayload {
  const parsed = PayloadSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'body';
  throw new PetcutError('PETCUT_E_INVALID_ALERT', `Not an Alertmanager webhook payload (version 4): ${where}: ${issue?.message ?? 'invalid'}.`);
}
