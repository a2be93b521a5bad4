// The SLO file (deploy/slo/petcut.slo.yml) as a zod schema. Every check carries
// its own message so that an error reads "objectives[2].objective: must be ...";
// unknown fields are errors too, because a typo (`objetive`) would otherwise
// silently drop a setting. Format and examples: docs/slo.md.
import { z } from 'zod';

const NAME = /^[a-z][a-z0-9-]*$/;
const ALERT_NAME = /^[A-Z][A-Za-z0-9]*$/;
const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
// A metric name with optional label matchers: enough to catch a pasted rate() or a missing brace.
const SELECTOR = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MONTH_DAY = /^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/;

const labels = z.record(
  z.string().regex(LABEL_NAME, { error: 'label names use letters, digits and "_"' }),
  z.string({ error: 'label values must be strings' }),
);

const alert = z.strictObject({ labels: labels.optional() }).nullish();

const ratioSli = z.strictObject({
  kind: z.literal('ratio'),
  errors: z.string().regex(SELECTOR, { error: 'must be a counter selector, e.g. metric{label="value"} (the generator adds rate())' }),
  total: z.string().regex(SELECTOR, { error: 'must be a counter selector, e.g. metric{label="value"} (the generator adds rate())' }),
});

const latencySli = z.strictObject({
  kind: z.literal('latency'),
  metric: z.string().regex(METRIC, { error: 'must be a histogram name without _bucket, e.g. petcut_processing_duration_seconds' }),
  matchers: z.string().regex(/^[^{}]*$/, { error: 'label matchers without braces, e.g. cold="false"' }).optional(),
  threshold: z.number({ error: 'must be a number of seconds' }).positive({ error: 'must be above 0 (seconds)' }),
});

const windowTemplate = { error: 'must contain {{.window}} where the range goes, e.g. rate(x[{{.window}}])' };
const rawSli = z.strictObject({
  kind: z.literal('raw'),
  error_query: z.string().refine((query) => query.includes('{{.window}}'), windowTemplate),
  total_query: z.string().refine((query) => query.includes('{{.window}}'), windowTemplate),
});

const sli = z.discriminatedUnion('kind', [ratioSli, latencySli, rawSli], { error: 'must be ratio, latency or raw' });

const hours = z.strictObject({
  from: z.int({ error: 'must be a whole hour' }).min(0, { error: 'must be between 0 and 23' }).max(23, { error: 'must be between 0 and 23' }),
  to: z.int({ error: 'must be a whole hour' }).min(1, { error: 'must be between 1 and 24' }).max(24, { error: 'must be between 1 and 24' }),
}).refine((range) => range.from !== range.to % 24, { error: 'from and to must differ (leave hours out for all day)' });

const dates = z.strictObject({
  from: z.string().regex(MONTH_DAY, { error: 'must be "MM-DD", e.g. "11-15"' }),
  to: z.string().regex(MONTH_DAY, { error: 'must be "MM-DD", e.g. "01-05"' }),
});

const when = z.strictObject({
  utc_offset_hours: z.number({ error: 'must be a number of hours, e.g. -5 for EST' })
    .min(-12, { error: 'must be between -12 and 14' }).max(14, { error: 'must be between -12 and 14' }),
  hours: hours.optional(),
  dates: dates.optional(),
}).refine((condition) => condition.hours || condition.dates, { error: 'needs hours, dates or both' });

const objective = z.strictObject({
  name: z.string().regex(NAME, { error: 'lower case letters, digits and "-", starting with a letter' }),
  description: z.string().min(1, { error: 'must not be empty' }),
  objective: z.number({ error: 'must be a percentage, e.g. 99.5' })
    .gt(0, { error: 'must be between 0 and 100 (exclusive)' }).lt(100, { error: 'must be between 0 and 100 (exclusive)' }),
  sli,
  when: when.optional(),
  alerting: z.strictObject({
    name: z.string().regex(ALERT_NAME, { error: 'must be an alert name in CamelCase, e.g. PetcutAvailabilityBudgetBurn' }),
    page: alert,
    ticket: alert,
  }).refine((alerting) => alerting.page !== undefined || alerting.ticket !== undefined, { error: 'needs page, ticket or both' }),
});

export const sloFileSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  service: z.string().regex(NAME, { error: 'lower case letters, digits and "-", starting with a letter' }),
  time_period_days: z.int({ error: 'must be a whole number of days' }).min(7, { error: 'must be between 7 and 90 days' }).max(90, { error: 'must be between 7 and 90 days' }).default(30),
  runbook_url: z.url({ error: 'must be a URL' }),
  objectives: z.array(objective).min(1, { error: 'needs at least one objective' }),
});

export type SloFile = z.infer<typeof sloFileSchema>;
export type Slo = SloFile['objectives'][number];
export type Sli = Slo['sli'];
export type TimeCondition = NonNullable<Slo['when']>;
