import type { Service, TrafficTarget } from '../cloudrun/types.js';

/**
 * A rollout's state lives on the Cloud Run service itself, as an annotation
 * written with the service's etag: every operator and a restarted process
 * read the same record (`petcut rollout status` from any machine), two
 * writers cannot both win (the second gets 409 and re-reads), and a run that
 * died leaves its record, which stays the lock until `--resume` takes it over
 * or `abort` ends it. Nothing breaks it silently.
 */
export const STATE_ANNOTATION = 'petcut.dev/rollout';

export const PHASES = ['deploying', 'smoke', 'watching', 'paused', 'cleanup', 'done', 'rolled-back', 'failed', 'aborted'] as const;
export type Phase = (typeof PHASES)[number];
/** Phases that hold the lock. */
export const ACTIVE: readonly Phase[] = ['deploying', 'smoke', 'watching', 'paused', 'cleanup'];

export interface RolloutEvent {
  readonly at: string;
  readonly what: string;
}

export interface RolloutState {
  readonly id: string;
  readonly image: string;
  readonly candidate: string;
  readonly baseline: string;
  /** Who runs it: user@host (pid). */
  readonly owner: string;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  readonly phase: Phase;
  /** Index into the config's steps (-1 before the first traffic move). */
  readonly step: number;
  readonly percent: number;
  readonly watchStartedAt?: string;
  /** The current watch's length, extensions included. */
  readonly watchMs?: number;
  readonly extensions: number;
  /** Set by `petcut rollout promote`: skip the remaining steps and waits. */
  readonly promote?: boolean;
  readonly reason?: string;
  /** Milliseconds spent in watch windows so far (the rest is the deployment's own time). */
  readonly waitedMs: number;
  /** The last events, oldest first (the full timeline is in the log). */
  readonly events: readonly RolloutEvent[];
}

const KEPT_EVENTS = 16;

export class StateError extends Error {
  override readonly name = 'StateError';
}

export function readState(service: Service): RolloutState | undefined {
  const raw = service.annotations?.[STATE_ANNOTATION];
  if (raw === undefined) return undefined;
  let state: RolloutState;
  try {
    state = JSON.parse(raw) as RolloutState;
  } catch {
    throw new StateError(`the annotation ${STATE_ANNOTATION} on ${service.name} is not JSON (edited by hand?): end it with \`petcut rollout abort --force\`, which puts every request back on the revision serving most and clears the record`);
  }
  if (typeof state.id !== 'string' || !PHASES.includes(state.phase)) {
    throw new StateError(`the annotation ${STATE_ANNOTATION} on ${service.name} is not a rollout record (no id or an unknown phase "${String(state.phase)}"): end it with \`petcut rollout abort --force\``);
  }
  return state;
}

export const isActive = (state: RolloutState | undefined): state is RolloutState => state !== undefined && ACTIVE.includes(state.phase);

export function withState(service: Service, state: RolloutState): Service {
  return { ...service, annotations: { ...service.annotations, [STATE_ANNOTATION]: JSON.stringify(state) } };
}

export function withEvent(state: RolloutState, what: string, at = new Date()): RolloutState {
  return { ...state, events: [...state.events, { at: at.toISOString(), what }].slice(-KEPT_EVENTS) };
}

/** The revision a traffic target names (a LATEST target is the latest ready revision). */
export function targetRevision(service: Service, target: TrafficTarget): string | undefined {
  return target.type === 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST' || (!target.revision && target.type === undefined)
    ? service.latestReadyRevision?.split('/').pop()
    : target.revision;
}

/** Percent per revision as Cloud Run reports it serving (trafficStatuses), else as asked (traffic). */
export function trafficShares(service: Service): Map<string, number> {
  const shares = new Map<string, number>();
  const targets = service.trafficStatuses?.length ? service.trafficStatuses : service.traffic ?? [];
  for (const target of targets) {
    const revision = targetRevision(service, target);
    if (revision && target.percent) shares.set(revision, (shares.get(revision) ?? 0) + target.percent);
  }
  return shares;
}

export function describeTraffic(service: Service): string {
  const shares = [...trafficShares(service)].map(([revision, percent]) => `${revision} ${percent}%`);
  const tags = (service.trafficStatuses ?? service.traffic ?? []).filter((t) => t.tag).map((t) => `${t.tag}=${targetRevision(service, t) ?? '?'}`);
  return `${shares.join(', ') || 'none'}${tags.length ? ` (tags: ${tags.join(', ')})` : ''}`;
}
