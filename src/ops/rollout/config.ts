// The rollout file (deploy/rollout.yml, or another with --config): the plan's
// phase 2 as data. Every error is one line naming the file, the field and what
// is allowed, as the SLO and load-profile files' are.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { describeIssue } from '../../slo/load.js';

export const DEFAULT_ROLLOUT_FILE = 'deploy/rollout.yml';
export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];
/** What an inconclusive watch (too few candidate requests) does. */
export const INCONCLUSIVE_ACTIONS = ['extend', 'pause', 'fail', 'pass'] as const;
export type InconclusiveAction = (typeof INCONCLUSIVE_ACTIONS)[number];

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "30m", "2h", "1.5s", "500ms", "1h30m" to milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text.trim()) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
}

/** 5400000 -> "1h30m", 3000 -> "3s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

const duration = (min = 0) => z.string({ error: 'must be a duration such as 30s, 5m, 2h' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use a number with ms, s, m or h: 30s, 5m, 2h, 1h30m)` });
    return z.NEVER;
  }
  if (ms < min) {
    ctx.addIssue({ code: 'custom', message: `must be at least ${formatDuration(min)}` });
    return z.NEVER;
  }
  return ms;
});

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time of day as HH:MM (24 h)' });
const timeZone = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, { error: 'must be an IANA time zone such as America/New_York' });

const window = z.strictObject({
  time_zone: timeZone.default('America/New_York'),
  start: clock,
  end: clock,
  days: z.array(z.enum(DAYS, { error: `must be one of ${DAYS.join(', ')}` })).min(1, { error: 'needs at least one day' }).default([...DAYS]),
});

const step = z.strictObject({
  percent: z.int({ error: 'must be a whole percentage' }).min(1, { error: 'must be 1-100' }).max(100, { error: 'must be 1-100' }),
  watch: duration(),
});

const metric = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, { error: 'lower case letters, digits and "-"' }),
  description: z.string().min(1, { error: 'must not be empty' }),
  // PromQL with $REVISION (the revision measured) and $RANGE (analysis.range) in it.
  query: z.string().refine((q) => q.includes('$REVISION'), { error: 'must select a revision with $REVISION (e.g. {revision="$REVISION"})' }),
  max: z.number({ error: 'must be a number (the highest passing value)' }),
  // Failing measurements must last this long before the metric fails (0: the first one fails it).
  for: duration().default(0),
  // When set, a measurement fails only if the candidate is also worse than the baseline by more than this
  // (a fault both revisions share, a storage outage, is not the candidate's).
  baseline_margin: z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).optional(),
});

const inconclusive = z.strictObject({
  // Candidate requests a watch must see to be conclusive (a 10 % canary at 3 AM may see none).
  min_requests: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }),
  // The query counting them, with $REVISION and $WATCH (the watch's length so far).
  requests_query: z.string().refine((q) => q.includes('$REVISION'), { error: 'must select a revision with $REVISION' }),
  action: z.enum(INCONCLUSIVE_ACTIONS, { error: `must be one of ${INCONCLUSIVE_ACTIONS.join(', ')}` }),
  // With action extend: how many times, each by the step's watch, before `then`.
  max_extensions: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }).default(2),
  then: z.enum(['pause', 'fail', 'pass'], { error: 'must be pause, fail or pass' }).default('pause'),
});

export const rolloutFileSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  candidate_tag: z.string().regex(/^[a-z][a-z0-9-]{0,45}$/, { error: 'a lower-case DNS label (letters, digits, "-")' }).default('candidate'),
  window,
  ready_timeout: duration(1000),
  smoke: z.strictObject({ timeout: duration(1000), ready_timeout: duration(1000) }),
  steps: z.array(step).min(1, { error: 'needs at least one step' }),
  analysis: z.strictObject({
    interval: duration(100),
    range: z.string().refine((r) => parseDuration(r) !== undefined, { error: 'must be a PromQL range such as 5m' }),
    metrics: z.array(metric).min(1, { error: 'needs at least one metric' }),
    inconclusive,
  }),
  cleanup: z.strictObject({ keep_revisions: z.int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2 (the new one and the previous one, for a fast rollback)' }) }),
}).superRefine((file, ctx) => {
  const percents = file.steps.map((s) => s.percent);
  percents.forEach((p, i) => {
    if (i > 0 && p <= percents[i - 1]!) ctx.addIssue({ code: 'custom', path: ['steps', i, 'percent'], message: `must be more than the step before (${percents[i - 1]})` });
  });
  if (percents.at(-1) !== 100) ctx.addIssue({ code: 'custom', path: ['steps', file.steps.length - 1, 'percent'], message: 'the last step must be 100' });
  const names = new Set<string>();
  file.analysis.metrics.forEach((m, i) => {
    if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: ['analysis', 'metrics', i, 'name'], message: `"${m.name}" is used twice` });
    names.add(m.name);
  });
  if (file.window.start === file.window.end) ctx.addIssue({ code: 'custom', path: ['window', 'end'], message: 'must differ from start' });
});

export type RolloutConfig = z.infer<typeof rolloutFileSchema>;
export type AnalysisMetric = RolloutConfig['analysis']['metrics'][number];
export type DeployWindow = RolloutConfig['window'];

export class RolloutFileError extends Error {
  override readonly name = 'RolloutFileError';
}

export function parseRolloutConfig(text: string, source: string): RolloutConfig {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const yamlError = document.errors[0];
  if (yamlError) throw new RolloutFileError(`${source}: not valid YAML: ${yamlError.message.split('\n')[0]}`);
  const result = rolloutFileSchema.safeParse(document.toJS());
  if (!result.success) throw new RolloutFileError(`${source}: ${result.error.issues.map(describeIssue).join('; ')}`);
  return result.data;
}

export async function loadRolloutConfig(path: string): Promise<RolloutConfig> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new RolloutFileError(`cannot read the rollout file ${path}: ${error.code ?? error.message}`);
  });
  return parseRolloutConfig(text, path);
}

/** A query with its placeholders filled in. */
export function fillQuery(query: string, values: { revision: string; range?: string; watchMs?: number }): string {
  const watch = `${Math.max(1, Math.round((values.watchMs ?? 0) / 1000))}s`;
  return query.replaceAll('$REVISION', values.revision).replaceAll('$RANGE', values.range ?? '5m').replaceAll('$WATCH', watch);
}
