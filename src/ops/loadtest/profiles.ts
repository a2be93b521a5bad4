// The load profiles file (deploy/loadtest/profiles.yml, or a shop's own with
// --profiles): profiles are data. Every error is one line naming the file, the
// field and what is allowed, as the SLO file's are (src/slo/load.ts).
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { describeIssue } from '../../slo/load.js';
import { SCENARIO_NAMES } from './scenarios.js';

export const DEFAULT_PROFILES_FILE = 'deploy/loadtest/profiles.yml';
export const ARRIVALS = ['poisson', 'constant'] as const;
export const SIZES = ['preview', 'phone'] as const;

const positive = (what: string) => z.number({ error: `must be a number (${what})` }).positive({ error: `must be above 0 (${what})` });
const share = z.number({ error: 'must be a share between 0 and 1' }).min(0, { error: 'must be between 0 and 1' }).max(1, { error: 'must be between 0 and 1' });
const scenario = z.enum(SCENARIO_NAMES, { error: `must be one of ${SCENARIO_NAMES.join(', ')}` });

const mixEntry = z.strictObject({ scenario, weight: positive('a relative weight').default(1) });
const mix = z.array(mixEntry).min(1, { error: 'needs at least one scenario' });

/** An open-model stream: arrivals at `rate` per second from `start_s` for `duration_s`, whatever the answers. */
const stream = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, { error: 'lower case letters, digits and "-"' }),
  rate: positive('requests per second'),
  duration_s: positive('seconds'),
  start_s: z.number({ error: 'must be a number of seconds' }).min(0, { error: 'must be 0 or more' }).default(0),
  arrival: z.enum(ARRIVALS, { error: `must be ${ARRIVALS.join(' or ')}` }).default('poisson'),
  mix,
});

/** Concurrent users (a closed loop per user by nature: a shopper waits for the result before the next photo). */
const users = z.strictObject({
  count: z.int({ error: 'must be a whole number of users' }).positive({ error: 'must be at least 1' }),
  ramp_s: z.number({ error: 'must be a number of seconds' }).min(0, { error: 'must be 0 or more' }).default(0),
  duration_s: positive('seconds'),
  think_s: z.number({ error: 'must be a number of seconds' }).min(0, { error: 'must be 0 or more' }).default(3),
  flow: z.array(scenario).min(1, { error: 'needs at least one scenario' }),
});

const thresholds = z.strictObject({
  // SLO objective names (deploy/slo/petcut.slo.yml) whose numbers apply; the routes they judge.
  latency: z.array(z.strictObject({ objective: z.string(), scenarios: z.array(scenario).min(1) })).default([]),
  errors: z.string().optional(),
});

const profile = z.strictObject({
  description: z.string().min(1, { error: 'must not be empty' }),
  streams: z.array(stream).default([]),
  users: users.optional(),
  cold: z.boolean().default(false),
  // Share of uploads that repeat an earlier photo byte for byte (expected X-Cache HIT); 0 = every upload unique.
  cache_hits: share.default(0),
  effect: z.string().default('color'),
  thresholds: thresholds.default({ latency: [] }),
}).refine((p) => p.streams.length > 0 || p.users !== undefined, { error: 'needs streams, users or both' });

export const profilesFileSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  profiles: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, { error: 'profile names use lower case letters, digits and "-"' }), profile),
});

export type ProfilesFile = z.infer<typeof profilesFileSchema>;
export type Profile = z.infer<typeof profile>;
export type Stream = z.infer<typeof stream>;
export type Users = z.infer<typeof users>;

export class ProfileFileError extends Error {
  override readonly name = 'ProfileFileError';
}

export function parseProfiles(text: string, source: string): ProfilesFile {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const yamlError = document.errors[0];
  if (yamlError) throw new ProfileFileError(`${source}: not valid YAML: ${yamlError.message.split('\n')[0]}`);
  const result = profilesFileSchema.safeParse(document.toJS());
  if (!result.success) throw new ProfileFileError(`${source}: ${result.error.issues.map(describeIssue).join('; ')}`);
  return result.data;
}

export async function loadProfile(path: string, name: string): Promise<Profile> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ProfileFileError(`cannot read the profiles file ${path}: ${error.code ?? error.message}`);
  });
  const file = parseProfiles(text, path);
  const found = file.profiles[name];
  if (!found) throw new ProfileFileError(`${path}: profiles.${name}: no such profile (the file has ${Object.keys(file.profiles).join(', ')})`);
  return found;
}

/** `--scale`: rates, users and durations times `factor` (at least one user, never a zero duration). */
export function scaleProfile(p: Profile, factor: number): Profile {
  return {
    ...p,
    streams: p.streams.map((s) => ({ ...s, rate: s.rate * factor, duration_s: s.duration_s * factor, start_s: s.start_s * factor })),
    users: p.users && { ...p.users, count: Math.max(1, Math.round(p.users.count * factor)), ramp_s: p.users.ramp_s * factor, duration_s: p.users.duration_s * factor, think_s: p.users.think_s * factor },
  };
}
