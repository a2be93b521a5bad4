import type { Revision, Service, TrafficTarget } from '../cloudrun/types.js';
import { targetRevision, trafficShares } from './state.js';

/**
 * The traffic arrangements of a blue-green rollout, as Cloud Run traffic
 * lists (pure: the rollout sends them with the service's etag). Tags other
 * than the candidate's are kept where they are.
 */
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION' as const;

const otherTags = (service: Service, drop: ReadonlySet<string>, tag: string): TrafficTarget[] =>
  (service.traffic ?? []).filter((t) => t.tag && t.tag !== tag && !drop.has(targetRevision(service, t) ?? ''))
    .map((t) => ({ type: REVISION, revision: targetRevision(service, t), percent: 0, tag: t.tag }));

/** The revision serving every request, or why there is none (a split in progress, nothing serving). */
export function servingRevision(service: Service): { revision: string } | { problem: string } {
  const shares = [...trafficShares(service)];
  if (shares.length === 0) return { problem: 'no revision serves traffic' };
  if (shares.length > 1 || shares[0]![1] !== 100) {
    return { problem: `traffic is split (${shares.map(([r, p]) => `${r} ${p}%`).join(', ')}): finish that first (\`petcut rollout status\`, \`promote\` or \`abort\`, or move it with gcloud run services update-traffic)` };
  }
  return { revision: shares[0]![0] };
}

/** `percent` to the candidate (with its tag), the rest to the baseline. */
export function split(service: Service, baseline: string, candidate: string, percent: number, tag: string): TrafficTarget[] {
  const targets: TrafficTarget[] = [];
  if (percent < 100) targets.push({ type: REVISION, revision: baseline, percent: 100 - percent });
  targets.push({ type: REVISION, revision: candidate, percent, tag });
  return [...targets, ...otherTags(service, new Set([baseline, candidate]), tag)];
}

/** Every request back on the baseline in one change; the candidate loses its tag. */
export function rollback(service: Service, baseline: string, candidate: string, tag: string): TrafficTarget[] {
  return [{ type: REVISION, revision: baseline, percent: 100 }, ...otherTags(service, new Set([baseline, candidate]), tag)];
}

/** The end: the candidate serves everything, untagged; the old revision loses its tag (kept for a fast rollback). */
export function promoted(service: Service, baseline: string, candidate: string, tag: string): TrafficTarget[] {
  return [{ type: REVISION, revision: candidate, percent: 100 }, ...otherTags(service, new Set([baseline, candidate]), tag)];
}

const shortName = (revision: Revision): string => revision.name.split('/').pop()!;

/**
 * Revisions to delete after a rollout: the protected ones (the new one, the
 * previous one: a rollback is then one traffic change) count first towards
 * `keep`, then the newest others; never one that serves traffic or carries a tag.
 */
export function revisionsToDelete(service: Service, revisions: readonly Revision[], keep: number, protect: readonly string[]): string[] {
  const named = new Set([...protect, ...(service.traffic ?? []).flatMap((t) => (t.percent || t.tag ? [targetRevision(service, t) ?? ''] : []))]);
  const newestFirst = [...revisions].sort((a, b) => Date.parse(b.createTime ?? '') - Date.parse(a.createTime ?? '') || shortName(b).localeCompare(shortName(a)));
  const others = newestFirst.map(shortName).filter((name) => !named.has(name));
  const room = Math.max(0, keep - newestFirst.filter((r) => protect.includes(shortName(r))).length);
  return others.slice(room);
}
