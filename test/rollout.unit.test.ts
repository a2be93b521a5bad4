import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { Revision, Service } from '../src/ops/cloudrun/types.js';
import { fillQuery, formatDuration, parseDuration, parseRolloutConfig } from '../src/ops/rollout/config.js';
import { readState, STATE_ANNOTATION } from '../src/ops/rollout/state.js';
import { promoted, revisionsToDelete, rollback, servingRevision, split } from '../src/ops/rollout/traffic.js';
import { inWindow, nextOpening } from '../src/ops/rollout/window.js';

/** The pure parts of `petcut rollout`: its file, its window, its traffic arrangements (the sequence runs in process.rollout). */
const FILE = 'deploy/rollout.yml';

async function config(change: (text: string) => string = (t) => t) {
  return parseRolloutConfig(change(await readFile(FILE, 'utf8')), FILE);
}

describe('deploy/rollout.yml', () => {
  it('holds the plan: 10 -> 50 -> 100 with 30 min, 30 min and 2 h watches, the four rollback criteria, 2-6 AM Eastern', async () => {
    const c = await config();
    expect(c.steps).toEqual([{ percent: 10, watch: 30 * 60_000 }, { percent: 50, watch: 30 * 60_000 }, { percent: 100, watch: 2 * 3_600_000 }]);
    expect(Object.fromEntries(c.analysis.metrics.map((m) => [m.name, [m.max, m.for]]))).toEqual({
      'error-rate': [0.05, 5 * 60_000], 'processing-time': [15, 0], 'memory-pressure': [0, 0], 'cold-start': [45, 0],
    });
    expect(c.window).toEqual({ time_zone: 'America/New_York', start: '02:00', end: '06:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] });
    for (const m of c.analysis.metrics) expect(m.query).toContain('revision="$REVISION"');
  });

  it('a bad value names the file, the field and what is allowed', async () => {
    await expect(config((t) => t.replace('percent: 50', 'percent: 5'))).rejects.toThrow(`${FILE}: steps[1].percent: must be more than the step before (10)`);
    await expect(config((t) => t.replace('watch: 2h', 'watch: 2 hours'))).rejects.toThrow(/steps\[2\]\.watch: "2 hours" is not a duration/);
    await expect(config((t) => t.replace('percent: 100', 'percent: 90'))).rejects.toThrow(/steps\[2\]\.percent: the last step must be 100/);
    await expect(config((t) => t.replace('time_zone: America/New_York', 'time_zone: Eastern'))).rejects.toThrow(/window\.time_zone: must be an IANA time zone/);
    await expect(config((t) => t.replace('action: extend', 'action: wait'))).rejects.toThrow(/analysis\.inconclusive\.action: must be one of extend, pause, fail, pass/);
    await expect(config((t) => t.replace('keep_revisions: 3', 'keep_revisions: 1'))).rejects.toThrow(/cleanup\.keep_revisions: must be at least 2/);
    await expect(config((t) => t.replace('max: 45', 'max: 45\n      colour: red'))).rejects.toThrow(/analysis\.metrics\[3\]\.colour: unknown field/);
    await expect(config((t) => t.replace('max(petcut_cold_start_seconds{revision="$REVISION"})', 'max(petcut_cold_start_seconds)'))).rejects.toThrow(/analysis\.metrics\[3\]\.query: must select a revision with \$REVISION/);
  });

  it('durations read and print both ways; placeholders fill in', () => {
    expect([parseDuration('30m'), parseDuration('1h30m'), parseDuration('500ms'), parseDuration('1.5s'), parseDuration('30'), parseDuration('5 m')]).toEqual([1_800_000, 5_400_000, 500, 1500, undefined, undefined]);
    expect([formatDuration(5_400_000), formatDuration(3000), formatDuration(0), formatDuration(7_200_000)]).toEqual(['1h30m', '3s', '0ms', '2h']);
    expect(fillQuery('x{revision="$REVISION"}[$RANGE] y[$WATCH]', { revision: 'svc-v2', range: '5m', watchMs: 90_000 })).toBe('x{revision="svc-v2"}[5m] y[90s]');
  });
});

describe('the deploy window, in its own time zone', () => {
  const window = { time_zone: 'America/New_York', start: '02:00', end: '06:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const };
  it('2-6 AM Eastern is 07-11 UTC in winter and 06-10 UTC in summer', () => {
    expect(inWindow({ ...window, days: [...window.days] }, new Date('2026-01-15T07:30:00Z'))).toBe(true);
    expect(inWindow({ ...window, days: [...window.days] }, new Date('2026-01-15T06:30:00Z'))).toBe(false);
    expect(inWindow({ ...window, days: [...window.days] }, new Date('2026-07-15T06:30:00Z'))).toBe(true);
    expect(inWindow({ ...window, days: [...window.days] }, new Date('2026-07-15T10:30:00Z'))).toBe(false);
  });
  it('the night clocks change (Nov 1 2026, Mar 8 2026) the window still opens at 2 AM local', () => {
    expect(nextOpening({ ...window, days: [...window.days] }, new Date('2026-10-30T12:00:00Z'))?.toISOString()).toBe('2026-10-31T06:00:00.000Z');
    // Clocks go back at 2 AM EDT (06:00 UTC) to 1 AM EST: 2 AM comes again, as EST, at 07:00 UTC.
    expect(nextOpening({ ...window, days: [...window.days] }, new Date('2026-10-31T12:00:00Z'))?.toISOString()).toBe('2026-11-01T07:00:00.000Z');
    expect(nextOpening({ ...window, days: [...window.days] }, new Date('2026-11-01T12:00:00Z'))?.toISOString()).toBe('2026-11-02T07:00:00.000Z');
    // On Mar 8 2026 2 AM does not exist (clocks jump to 3 AM): the window opens at 3 AM EDT = 07:00 UTC.
    expect(nextOpening({ ...window, days: [...window.days] }, new Date('2026-03-07T12:00:00Z'))?.toISOString()).toBe('2026-03-08T07:00:00.000Z');
  });
  it('a window across midnight belongs to the day it opens; days limit it', () => {
    const late = { time_zone: 'America/New_York', start: '22:00', end: '02:00', days: ['sat' as const] };
    expect(inWindow(late, new Date('2026-01-18T05:00:00Z'))).toBe(true); // Sun 00:00 EST, the Saturday window
    expect(inWindow(late, new Date('2026-01-19T05:00:00Z'))).toBe(false); // Mon 00:00 EST
    expect(inWindow(late, new Date('2026-01-17T04:00:00Z'))).toBe(false); // Fri 23:00 EST
  });
});

const svc = (traffic: Service['traffic'], extra: Partial<Service> = {}): Service => ({ name: 'projects/p/locations/r/services/s', template: { containers: [{ image: 'x' }] }, traffic, ...extra });

describe('traffic arrangements', () => {
  it('finds the serving revision (LATEST included) and refuses a split', () => {
    expect(servingRevision(svc([{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }], { latestReadyRevision: 'projects/p/locations/r/services/s/revisions/s-a' }))).toEqual({ revision: 's-a' });
    expect(servingRevision(svc([{ revision: 's-a', percent: 90 }, { revision: 's-b', percent: 10 }]))).toMatchObject({ problem: expect.stringMatching(/traffic is split \(s-a 90%, s-b 10%\)/) });
  });
  it('split, rollback and promote keep other tags and drop the candidate tag at the end', () => {
    const s = svc([{ revision: 's-a', percent: 100 }, { revision: 's-old', percent: 0, tag: 'qa' }]);
    expect(split(s, 's-a', 's-b', 10, 'candidate')).toEqual([
      { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: 's-a', percent: 90 },
      { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: 's-b', percent: 10, tag: 'candidate' },
      { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: 's-old', percent: 0, tag: 'qa' },
    ]);
    expect(split(s, 's-a', 's-b', 100, 'candidate').map((t) => [t.revision, t.percent])).toEqual([['s-b', 100], ['s-old', 0]]);
    expect(rollback(s, 's-a', 's-b', 'candidate').map((t) => [t.revision, t.percent, t.tag])).toEqual([['s-a', 100, undefined], ['s-old', 0, 'qa']]);
    expect(promoted(s, 's-a', 's-b', 'candidate').map((t) => [t.revision, t.percent, t.tag])).toEqual([['s-b', 100, undefined], ['s-old', 0, 'qa']]);
  });
  it('clean-up keeps the new and the previous revision first, then the newest, never a tagged one', () => {
    const rev = (name: string, day: number): Revision => ({ name: `projects/p/locations/r/services/s/revisions/${name}`, createTime: `2026-11-${String(day).padStart(2, '0')}T00:00:00Z` });
    const revisions = [rev('s-1', 1), rev('s-2', 2), rev('s-3', 3), rev('s-failed', 4), rev('s-5', 5)];
    const s = svc([{ revision: 's-5', percent: 100 }, { revision: 's-1', percent: 0, tag: 'qa' }]);
    expect(revisionsToDelete(s, revisions, 2, ['s-5', 's-3']).sort()).toEqual(['s-2', 's-failed']);
    expect(revisionsToDelete(s, revisions, 3, ['s-5', 's-3']).sort()).toEqual(['s-2']);
  });
  it('a hand-edited record is named as such, with the way out', () => {
    expect(() => readState(svc([], { annotations: { [STATE_ANNOTATION]: '{oops' } }))).toThrow(/not JSON .*petcut rollout abort --force/);
    expect(() => readState(svc([], { annotations: { [STATE_ANNOTATION]: '{"id":"x","phase":"dancing"}' } }))).toThrow(/unknown phase "dancing"/);
  });
});
