import { randomBytes } from 'node:crypto';
import { CloudRunError, EtagConflictError } from '../cloudrun/errors.js';
import type { CloudRun, Service, ServiceRef, TrafficTarget } from '../cloudrun/types.js';
import type { PrometheusClient } from '../prometheus/client.js';
import { createAnalysis, describeMeasurements } from './analysis.js';
import type { Analysis } from './analysis.js';
import { formatDuration } from './config.js';
import type { RolloutConfig } from './config.js';
import { describeTraffic, isActive, readState, trafficShares, withEvent, withState } from './state.js';
import type { RolloutState } from './state.js';
import { promoted, revisionsToDelete, rollback, servingRevision, split } from './traffic.js';
import { describeWindow, inWindow, localTime, nextOpening } from './window.js';

/**
 * `petcut rollout`: the plan's phase 2 on Cloud Run (docs/rollout.md).
 * Cloud Run does the work (a new revision at 0 % with a tag, traffic splits,
 * the rollback in one traffic change); this drives it: pre-flight, the
 * candidate's smoke test on its tag URL, each step's watch with the analysis,
 * the rollback, the clean-up, all recorded on the service (state.ts) so any
 * machine sees it and a killed run resumes where it was.
 */
export const EXIT = {
  /** Promoted and cleaned up; or a status/abort/promote that did what it said. */
  done: 0,
  /** Rolled back, aborted, or the candidate failed: customers stay on the old revision. */
  rolledBack: 1,
  /** A wrong flag, image reference or rollout file. */
  usage: 2,
  /** Cloud Run or the query API refused or could not be reached (the message says what was being done). */
  cloud: 3,
  /** Paused: an inconclusive watch waits for a person (promote, abort or --resume). */
  paused: 4,
  /** Refused before any change: another rollout holds the lock, outside the deploy window, the service unhealthy. */
  refused: 5,
} as const;

export type Result = 'promoted' | 'rolled-back' | 'failed' | 'paused' | 'aborted' | 'refused' | 'planned' | 'nothing';

export interface Outcome {
  readonly result: Result;
  readonly exitCode: number;
  readonly message: string;
  readonly state?: RolloutState;
  /** From the measurement that failed to every request back on the old revision. */
  readonly rollbackMs?: number;
  /** Time outside the watch windows (pre-flight, deploy, smoke, traffic moves, clean-up). */
  readonly activeMs?: number;
  readonly waitedMs?: number;
}

export interface SmokeResult {
  readonly passed: boolean;
  readonly summary: string;
}

export interface RolloutDeps {
  readonly cloudRun: CloudRun;
  readonly prometheus: PrometheusClient;
  readonly config: RolloutConfig;
  readonly ref: ServiceRef;
  /** Who runs this: user@host (pid). */
  readonly owner: string;
  readonly log: (line: string) => void;
  /** `petcut validate --smoke` on the candidate's tag URL. */
  readonly smoke: (url: string, revision: string) => Promise<SmokeResult>;
  /** A Slack-compatible webhook (notify.ts); failures to deliver are logged, never fatal. */
  readonly notify?: (text: string) => Promise<void>;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface StartOptions {
  readonly image: string;
  readonly revisionSuffix?: string;
  /** --now: ignore the deploy window. */
  readonly ignoreWindow?: boolean;
}

const IMAGE = /^[a-z0-9][a-z0-9.-]*(:\d+)?(\/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$/;
const REVISION_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Another process changed the record under us: aborted, taken over, replaced. */
class Interrupted extends Error {
  override readonly name = 'Interrupted';
  constructor(message: string, readonly recorded?: RolloutState) {
    super(message);
  }
}

const sleepFor = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A heartbeat older than this (in analysis intervals) means nobody drives the rollout. */
const STALE_INTERVALS = 3;

interface Run {
  state: RolloutState;
  readonly started: number;
  /** The service's template before the candidate (known to the run that deployed it): a failed candidate's service gets it back. */
  readonly previousTemplate?: Service['template'];
}

export function createRollout(deps: RolloutDeps) {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const { cloudRun, config, ref } = deps;
  const tag = config.candidate_tag;
  const analysis: Analysis = createAnalysis(deps.prometheus, config.analysis, now);
  const serviceName = `${ref.service} (${ref.project}, ${ref.region})`;

  const stamp = (run: Run | undefined): string => {
    const at = new Date(now()).toISOString().replace(/\.\d+Z$/, 'Z');
    return run ? `${at} [+${formatDuration(now() - run.started)}]` : at;
  };
  const event = (run: Run, what: string): void => {
    deps.log(`${stamp(run)} ${what}`);
    run.state = withEvent(run.state, what, new Date(now()));
  };
  const notify = async (text: string): Promise<void> => {
    if (!deps.notify) return;
    await deps.notify(`petcut rollout ${ref.service}: ${text}`).catch((error: unknown) => deps.log(`${stamp(undefined)} webhook not delivered: ${error instanceof Error ? error.message : String(error)}`));
  };

  /**
   * Writes the run's state (and a traffic or template change) in one update
   * with the service's etag, after checking the record is still this run's
   * (an abort, a take-over or a promote by another operator is seen here).
   */
  const commit = async (run: Run, patch: Partial<RolloutState>, shape?: (service: Service) => Service, waitMs?: number): Promise<Service> => {
    for (let attempt = 0; ; attempt++) {
      const fresh = await cloudRun.getService(ref);
      const recorded = readState(fresh);
      if (!recorded || recorded.id !== run.state.id) throw new Interrupted(`the rollout record on ${serviceName} was replaced (${recorded ? `now ${recorded.id}` : 'removed'})`, recorded);
      if (recorded.phase === 'aborted') throw new Interrupted(`aborted${recorded.reason ? `: ${recorded.reason}` : ''}`, recorded);
      if (recorded.owner !== run.state.owner) throw new Interrupted(`taken over by ${recorded.owner}`, recorded);
      run.state = { ...run.state, promote: recorded.promote ?? run.state.promote, ...patch, heartbeatAt: new Date(now()).toISOString() };
      try {
        return await cloudRun.updateService(ref, withState(shape ? shape(fresh) : fresh, run.state), { waitMs });
      } catch (error) {
        if (error instanceof EtagConflictError && attempt < 3) continue;
        throw error;
      }
    }
  };

  const refuse = (message: string): Outcome => ({ result: 'refused', exitCode: EXIT.refused, message });

  const heldBy = (state: RolloutState): string => {
    const age = formatDuration(now() - Date.parse(state.heartbeatAt));
    return `rollout ${state.id} of ${state.candidate} by ${state.owner} is ${state.phase} at ${state.percent}% (started ${state.startedAt}, last heartbeat ${age} ago)`;
  };

  /** Candidate failed before taking traffic: its tag and revision removed, the lock released. */
  const failCandidate = async (run: Run, reason: string): Promise<Outcome> => {
    event(run, `candidate failed: ${reason}`);
    // The template goes back too (Cloud Run keeps a failed deploy's template, and its revision as the latest, which it will not delete).
    await commit(run, { phase: 'failed', reason }, (s) => ({ ...s, ...(run.previousTemplate ? { template: run.previousTemplate } : {}), traffic: rollback(s, run.state.baseline, run.state.candidate, tag) }));
    try {
      await cloudRun.deleteRevision(ref, run.state.candidate);
      event(run, `revision ${run.state.candidate} deleted; customers were never sent to it`);
    } catch (error) {
      event(run, `revision ${run.state.candidate} not deleted (${error instanceof Error ? error.message : String(error)}): the next clean-up deletes it`);
    }
    await commit(run, {}).catch(() => undefined);
    await notify(`candidate ${run.state.candidate} failed before taking traffic: ${reason}`);
    return { result: 'failed', exitCode: EXIT.rolledBack, message: `candidate ${run.state.candidate} failed: ${reason}; nothing changed for customers (${run.state.baseline} serves 100%)`, state: run.state };
  };

  /** Every request back on the baseline in one traffic change. */
  const rollBack = async (run: Run, reason: string, failedAt: number): Promise<Outcome> => {
    event(run, `ROLLBACK: ${reason}`);
    const service = await commit(run, { phase: 'rolled-back', reason }, (s) => ({ ...s, traffic: rollback(s, run.state.baseline, run.state.candidate, tag) }));
    const rollbackMs = now() - failedAt;
    event(run, `rolled back in ${formatDuration(rollbackMs)}: ${describeTraffic(service)}`);
    await commit(run, {}).catch(() => undefined);
    await notify(`ROLLED BACK ${run.state.candidate} -> ${run.state.baseline}: ${reason}`);
    return { result: 'rolled-back', exitCode: EXIT.rolledBack, message: `rolled back to ${run.state.baseline}: ${reason}`, state: run.state, rollbackMs, ...times(run) };
  };

  const times = (run: Run): { activeMs: number; waitedMs: number } => ({ activeMs: now() - run.started - run.state.waitedMs, waitedMs: run.state.waitedMs });

  const tagUrl = (service: Service): string | undefined => service.trafficStatuses?.find((t) => t.tag === tag)?.uri;

  /** Waits for a revision created by a run that died mid-deploy. */
  const awaitRevision = async (name: string): Promise<string | undefined> => {
    const until = now() + config.ready_timeout;
    for (;;) {
      const revision = await cloudRun.getRevision(ref, name).catch((error: unknown) => {
        if (error instanceof CloudRunError && error.status === 404) return undefined;
        throw error;
      });
      if (!revision) return `revision ${name} does not exist`;
      const condition = revision.terminalCondition;
      if (condition?.state === 'CONDITION_SUCCEEDED') return undefined;
      if (condition?.state === 'CONDITION_FAILED') return `revision ${name} is not ready: ${condition.message ?? 'failed'}`;
      if (now() > until) return `revision ${name} was not ready within ${formatDuration(config.ready_timeout)}`;
      await sleep(Math.min(5000, config.analysis.interval));
    }
  };

  const smokeStep = async (run: Run): Promise<Outcome | undefined> => {
    const service = await commit(run, { phase: 'smoke' });
    const url = tagUrl(service);
    if (!url) return failCandidate(run, `Cloud Run gave the tag "${tag}" no URL`);
    event(run, `smoke test of ${run.state.candidate} on ${url}`);
    const smoke = await deps.smoke(url, run.state.candidate);
    if (!smoke.passed) return failCandidate(run, `smoke test failed: ${smoke.summary}`);
    event(run, `smoke test passed: ${smoke.summary}`);
    return undefined;
  };

  /** One step's watch; undefined when it passed. */
  const watch = async (run: Run): Promise<Outcome | 'promote' | undefined> => {
    const step = config.steps[run.state.step]!;
    const started = Date.parse(run.state.watchStartedAt!);
    const { min_requests: minimum, max_extensions: maxExtensions } = config.analysis.inconclusive;
    let heldOpen = false;
    for (;;) {
      const watchMs = run.state.watchMs ?? step.watch;
      const left = started + watchMs - now();
      // A failing streak still short of its `for` holds the watch open: it either clears or rolls back
      // (for at most the longest `for` and one interval: a streak that only goes silent does not hold it forever).
      const holdMs = Math.max(...config.analysis.metrics.map((m) => m.for)) + config.analysis.interval;
      const streaks = left <= 0 && -left < holdMs ? analysis.failing() : [];
      if (left <= 0 && streaks.length > 0 && !heldOpen) {
        heldOpen = true;
        event(run, `watch over, but ${streaks.join(', ')} is failing: measuring on until it clears or lasts its "for"`);
      }
      if (left <= 0 && streaks.length === 0) {
        const seen = await analysis.requests(run.state.candidate, watchMs);
        if (seen !== undefined && seen >= minimum) {
          run.state = { ...run.state, waitedMs: run.state.waitedMs + watchMs };
          event(run, `step ${run.state.step + 1} passed: ${Math.round(seen)} candidate requests in ${formatDuration(watchMs)}`);
          return undefined;
        }
        const why = seen === undefined ? 'the candidate\'s request count could not be read' : `${Math.round(seen)} candidate requests in ${formatDuration(watchMs)}, fewer than ${minimum}`;
        const action = config.analysis.inconclusive.action;
        if (action === 'extend' && run.state.extensions < maxExtensions) {
          event(run, `inconclusive: ${why}; watching ${formatDuration(step.watch)} more (extension ${run.state.extensions + 1} of ${maxExtensions})`);
          await commit(run, { watchMs: watchMs + step.watch, extensions: run.state.extensions + 1 });
          continue;
        }
        const then = action === 'extend' ? config.analysis.inconclusive.then : action;
        run.state = { ...run.state, waitedMs: run.state.waitedMs + watchMs };
        if (then === 'pass') {
          event(run, `inconclusive: ${why}; passed as configured (analysis.inconclusive: pass)`);
          return undefined;
        }
        if (then === 'fail') return rollBack(run, `inconclusive: ${why} (analysis.inconclusive: fail)`, now());
        event(run, `PAUSED: ${why}; waiting for a person: petcut rollout promote | abort | --resume (watch again)`);
        await commit(run, { phase: 'paused', reason: `inconclusive: ${why}` });
        await notify(`paused at ${run.state.percent}%: ${why}`);
        return { result: 'paused', exitCode: EXIT.paused, message: `paused at ${run.state.percent}% (inconclusive: ${why})`, state: run.state, ...times(run) };
      }
      await sleep(left > 0 ? Math.min(config.analysis.interval, left) : config.analysis.interval);
      const verdict = await analysis.measure(run.state.candidate, run.state.baseline);
      const measuredAt = now();
      deps.log(`${stamp(run)}   ${run.state.percent}%: ${describeMeasurements(verdict, config.analysis)}`);
      for (const error of verdict.errors.slice(0, 1)) deps.log(`${stamp(run)}   query failed (counted as no data): ${error}`);
      if (verdict.failed.length > 0) {
        const reasons = verdict.failed.map((f) => `${f.metric.name} ${Number(f.value.toFixed(3))} > ${f.metric.max}${f.metric.for ? ` for ${formatDuration(f.sinceMs)}` : ''} (${f.metric.description})`);
        return rollBack(run, reasons.join('; '), measuredAt);
      }
      await commit(run, {});
      if (run.state.promote) {
        run.state = { ...run.state, waitedMs: run.state.waitedMs + (now() - started) };
        return 'promote';
      }
    }
  };

  const cleanup = async (run: Run): Promise<Outcome> => {
    const { baseline, candidate } = run.state;
    const service = await commit(run, { phase: 'cleanup', percent: 100 }, (s) => ({ ...s, traffic: promoted(s, baseline, candidate, tag) }));
    event(run, `promoted: ${describeTraffic(service)}; ${baseline} kept for a fast rollback`);
    const revisions = await cloudRun.listRevisions(ref);
    for (const name of revisionsToDelete(service, revisions, config.cleanup.keep_revisions, [candidate, baseline])) {
      try {
        await cloudRun.deleteRevision(ref, name);
        event(run, `deleted old revision ${name}`);
      } catch (error) {
        event(run, `old revision ${name} not deleted: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await commit(run, { phase: 'done', reason: undefined });
    const { activeMs, waitedMs } = times(run);
    event(run, `done: ${candidate} serves 100% (${formatDuration(activeMs)} of work, ${formatDuration(waitedMs)} of watching)`);
    await commit(run, {}).catch(() => undefined);
    await notify(`${candidate} promoted to 100% (${formatDuration(activeMs)} of work, ${formatDuration(waitedMs)} watching)`);
    return { result: 'promoted', exitCode: EXIT.done, message: `${candidate} serves 100%`, state: run.state, activeMs, waitedMs };
  };

  /** From the recorded phase to the end. */
  const drive = async (run: Run): Promise<Outcome> => {
    try {
      if (run.state.phase === 'deploying') {
        const problem = await awaitRevision(run.state.candidate);
        if (problem) return await failCandidate(run, problem);
      }
      if (run.state.phase === 'deploying' || run.state.phase === 'smoke') {
        const failed = await smokeStep(run);
        if (failed) return failed;
      }
      if (run.state.phase === 'cleanup') return await cleanup(run);
      // Where the steps start: the first after the smoke test, or the recorded one's watch.
      const resumed = run.state.phase === 'watching' || run.state.phase === 'paused';
      const from = resumed ? run.state.step : 0;
      if (run.state.phase === 'paused') {
        event(run, `watching step ${from + 1} again after the pause`);
        await commit(run, { phase: 'watching', watchStartedAt: new Date(now()).toISOString(), watchMs: config.steps[from]!.watch, extensions: 0, reason: undefined });
      } else if (resumed && (trafficShares(await cloudRun.getService(ref)).get(run.state.candidate) ?? 0) !== run.state.percent) {
        // A resumed watch keeps its traffic and the rest of its time; traffic moves again only if someone changed it.
        await commit(run, {}, (s) => ({ ...s, traffic: split(s, run.state.baseline, run.state.candidate, run.state.percent, tag) }));
        event(run, `traffic set back to ${run.state.percent}% on ${run.state.candidate}`);
      }
      for (let i = from; i < config.steps.length; i++) {
        if (!(resumed && i === from)) {
          const step = config.steps[i]!;
          const service = await commit(run, { phase: 'watching', step: i, percent: step.percent, watchStartedAt: new Date(now()).toISOString(), watchMs: step.watch, extensions: 0 },
            (s) => ({ ...s, traffic: split(s, run.state.baseline, run.state.candidate, step.percent, tag) }));
          event(run, `step ${i + 1}/${config.steps.length}: ${describeTraffic(service)}; watching ${formatDuration(step.watch)}`);
        }
        const watched = await watch(run);
        if (watched === 'promote') {
          event(run, 'promote asked: the remaining steps and waits skipped');
          break;
        }
        if (watched) return watched;
      }
      return await cleanup(run);
    } catch (error) {
      if (error instanceof Interrupted) {
        deps.log(`${stamp(run)} stopped: ${error.message}`);
        const result = error.recorded?.phase === 'aborted' ? 'aborted' : 'refused';
        return { result, exitCode: EXIT.rolledBack, message: `stopped: ${error.message}`, state: error.recorded };
      }
      throw error;
    }
  };

  const preflight = async (options: StartOptions): Promise<{ service: Service; baseline: string; candidate: string } | Outcome> => {
    if (!IMAGE.test(options.image)) throw new UsageError(`--image: "${options.image}" is not an image by digest (REGISTRY/PATH@sha256:<64 hex>): a tag can move, a digest cannot`);
    const service = await cloudRun.getService(ref);
    const recorded = readState(service);
    if (isActive(recorded)) return refuse(`${heldBy(recorded)}: resume it with \`petcut rollout --resume\`, or end it with \`petcut rollout abort\``);
    const at = new Date(now());
    if (!options.ignoreWindow && !inWindow(config.window, at)) {
      const next = nextOpening(config.window, at);
      return refuse(`outside the deploy window (${describeWindow(config.window)}; it is ${localTime(at, config.window.time_zone).text} there)${next ? `: it opens ${next.toISOString()}` : ''}; --now deploys anyway`);
    }
    const serving = servingRevision(service);
    if ('problem' in serving) return refuse(`${serviceName}: ${serving.problem}`);
    const baseline = serving.revision;
    // What customers depend on is the serving revision: a service whose last deploy failed (its condition
    // says so) still serves it, and releasing a fixed image is the usual next step.
    const ready = (await cloudRun.getRevision(ref, baseline)).terminalCondition;
    if (ready && ready.state !== 'CONDITION_SUCCEEDED') {
      return refuse(`${serviceName}: the serving revision ${baseline} is not ready (${ready.state}: ${ready.message ?? 'no message'}): fix the service before releasing onto it`);
    }
    if (service.terminalCondition && service.terminalCondition.state !== 'CONDITION_SUCCEEDED') {
      deps.log(`${stamp(undefined)} note: ${serviceName} reports ${service.terminalCondition.state} (${service.terminalCondition.message ?? 'no message'}); ${baseline} serves 100% and is ready, so the release goes on`);
    }
    const suffix = options.revisionSuffix ?? `r${new Date(now()).toISOString().replace(/[-:T]/g, '').slice(0, 12)}`;
    const candidate = `${ref.service}-${suffix}`;
    if (!REVISION_NAME.test(candidate)) throw new UsageError(`--revision-suffix: "${candidate}" is not a revision name (lower-case letters, digits and "-", at most 63, starting with a letter)`);
    const revisions = await cloudRun.listRevisions(ref);
    if (revisions.some((r) => r.name.endsWith(`/revisions/${candidate}`))) throw new UsageError(`--revision-suffix: revision ${candidate} already exists: choose another suffix`);
    await deps.prometheus.query('vector(1)');
    return { service, baseline, candidate };
  };

  return {
    async start(options: StartOptions): Promise<Outcome> {
      const checked = await preflight(options);
      if ('exitCode' in checked) return checked;
      const { service, baseline, candidate } = checked;
      const id = `ro-${now().toString(36)}-${randomBytes(3).toString('hex')}`;
      const at = new Date(now()).toISOString();
      const run: Run = {
        started: now(),
        previousTemplate: service.template,
        state: { id, image: options.image, candidate, baseline, owner: deps.owner, startedAt: at, heartbeatAt: at, phase: 'deploying', step: -1, percent: 0, extensions: 0, waitedMs: 0, events: [] },
      };
      event(run, `pre-flight passed: ${serviceName} serves ${baseline} 100%; deploying ${candidate} at 0% (tag ${tag}) from ${options.image}`);
      await notify(`releasing ${candidate} (${options.image}) over ${baseline}`);
      const [first, ...rest] = service.template.containers;
      const template = { ...service.template, revision: candidate, labels: { ...service.template.labels, 'petcut-rollout': id }, containers: [{ ...first!, image: options.image }, ...rest] };
      const deployStarted = now();
      try {
        await cloudRun.updateService(ref, withState({ ...service, template, traffic: split(service, baseline, candidate, 0, tag) }, run.state), { waitMs: config.ready_timeout });
      } catch (error) {
        if (error instanceof EtagConflictError) {
          const again = readState(await cloudRun.getService(ref));
          return refuse(again && isActive(again) ? `${heldBy(again)}: it started while this one did` : `${serviceName} changed while this rollout started (someone else deployed?): check \`petcut rollout status\` and try again`);
        }
        if (!(error instanceof CloudRunError)) throw error;
        const recorded = readState(await cloudRun.getService(ref));
        if (recorded?.id !== id) throw error;
        return failCandidate(run, `not ready: ${error.message}`);
      }
      event(run, `candidate ${candidate} ready in ${formatDuration(now() - deployStarted)}`);
      return drive(run);
    },

    async resume(): Promise<Outcome> {
      const service = await cloudRun.getService(ref);
      const recorded = readState(service);
      if (!isActive(recorded)) {
        const last = readState(service);
        return { result: 'nothing', exitCode: EXIT.refused, message: `no rollout in progress on ${serviceName}${last ? ` (the last, ${last.id}, is ${last.phase})` : ''}` };
      }
      // The rollout file is read again: a changed file applies from the resumed step (its watch length too).
      const step = config.steps[recorded.step];
      const watchMs = step ? step.watch * (1 + recorded.extensions) : recorded.watchMs;
      const run: Run = { started: now() - (Date.parse(recorded.heartbeatAt) - Date.parse(recorded.startedAt)), state: { ...recorded, owner: deps.owner, watchMs } };
      const was = heldBy(recorded);
      try {
        await cloudRun.updateService(ref, withState(service, withEvent(run.state, `resumed by ${deps.owner}`, new Date(now()))));
      } catch (error) {
        if (error instanceof EtagConflictError) return refuse(`${serviceName} changed while taking over (another operator resumed or aborted it?): check \`petcut rollout status\``);
        throw error;
      }
      event(run, `resumed by ${deps.owner}: ${was}`);
      return drive(run);
    },

    async abort(reason: string, force = false): Promise<Outcome> {
      const service = await cloudRun.getService(ref);
      let recorded: RolloutState | undefined;
      try {
        recorded = readState(service);
      } catch (error) {
        if (!force) throw error;
      }
      const started = now();
      if (!isActive(recorded)) {
        if (!force) return { result: 'nothing', exitCode: EXIT.done, message: `no rollout in progress on ${serviceName}: nothing to abort (traffic: ${describeTraffic(service)})` };
        const most = [...trafficShares(service)].sort((a, b) => b[1] - a[1])[0]?.[0];
        if (!most) return refuse(`${serviceName}: no revision serves traffic to put everything on`);
        const annotations = { ...service.annotations };
        delete annotations['petcut.dev/rollout'];
        const after = await cloudRun.updateService(ref, { ...service, annotations, traffic: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: most, percent: 100 }] });
        return { result: 'aborted', exitCode: EXIT.done, message: `record cleared; ${describeTraffic(after)}`, rollbackMs: now() - started };
      }
      const state = withEvent({ ...recorded, phase: 'aborted', reason: `${reason} (by ${deps.owner})`, heartbeatAt: new Date(now()).toISOString() }, `ABORTED by ${deps.owner}: ${reason}`, new Date(now()));
      const traffic: TrafficTarget[] = rollback(service, recorded.baseline, recorded.candidate, tag);
      const after = await cloudRun.updateService(ref, withState({ ...service, traffic }, state));
      const rollbackMs = now() - started;
      deps.log(`${stamp(undefined)} aborted ${recorded.id}: ${describeTraffic(after)} (${formatDuration(rollbackMs)})`);
      await notify(`ABORTED by ${deps.owner}: ${reason}; ${recorded.baseline} serves 100%`);
      return { result: 'aborted', exitCode: EXIT.done, message: `aborted ${recorded.id}: ${recorded.baseline} serves 100%`, state, rollbackMs };
    },

    async promote(): Promise<Outcome> {
      const service = await cloudRun.getService(ref);
      const recorded = readState(service);
      if (!isActive(recorded)) return { result: 'nothing', exitCode: EXIT.refused, message: `no rollout in progress on ${serviceName}` };
      if (recorded.phase === 'deploying' || recorded.phase === 'smoke') return refuse(`${recorded.candidate} has not passed its smoke test yet (${recorded.phase}): promote once it takes traffic`);
      const stale = now() - Date.parse(recorded.heartbeatAt) > STALE_INTERVALS * config.analysis.interval + 10_000;
      if (recorded.phase === 'watching' && !stale) {
        const state = withEvent({ ...recorded, promote: true }, `promote asked by ${deps.owner}`, new Date(now()));
        await cloudRun.updateService(ref, withState(service, state));
        return { result: 'promoted', exitCode: EXIT.done, message: `asked ${recorded.owner}'s run to promote ${recorded.candidate} at its next measurement (within ${formatDuration(config.analysis.interval)})`, state };
      }
      // Nobody drives it (paused, or its process died): this command finishes it.
      const run: Run = { started: now(), state: { ...recorded, owner: deps.owner } };
      await cloudRun.updateService(ref, withState(service, withEvent(run.state, `promote by ${deps.owner} (was ${recorded.owner}, ${recorded.phase})`, new Date(now()))));
      try {
        return await cleanup(run);
      } catch (error) {
        if (error instanceof Interrupted) return { result: 'refused', exitCode: EXIT.refused, message: `stopped: ${error.message}` };
        throw error;
      }
    },

    async status(): Promise<{ text: string; state?: RolloutState; service: Service }> {
      const service = await cloudRun.getService(ref);
      const state = readState(service);
      const lines = [`${serviceName}: ${describeTraffic(service)}`];
      if (!state) lines.push('no rollout recorded');
      else {
        lines.push(`${isActive(state) ? 'IN PROGRESS' : 'last'}: ${heldBy(state)}${state.reason ? `; ${state.reason}` : ''}`);
        lines.push(`image ${state.image}; baseline ${state.baseline}; ${formatDuration(state.waitedMs)} watched so far`);
        for (const e of state.events) lines.push(`  ${e.at} ${e.what}`);
      }
      return { text: `${lines.join('\n')}\n`, state, service };
    },

    /** --dry-run: the pre-flight's reads for real, then every change and query it would make. */
    async plan(options: StartOptions): Promise<Outcome> {
      const checked = await preflight(options);
      if ('exitCode' in checked) return checked;
      const { service, baseline, candidate } = checked;
      const base = `/v2/projects/${ref.project}/locations/${ref.region}/services/${ref.service}`;
      const lines = [
        `PATCH ${base} (etag ${service.etag ?? '?'}): template.revision=${candidate}, containers[0].image=${options.image}; traffic ${baseline} 100%, ${candidate} 0% tag ${tag}; annotation petcut.dev/rollout (the lock); wait up to ${formatDuration(config.ready_timeout)} for the revision`,
        `smoke: petcut validate --smoke <the tag URL of ${tag}> --expect-revision ${candidate}`,
      ];
      for (const [i, step] of config.steps.entries()) {
        lines.push(`PATCH ${base}: traffic ${step.percent < 100 ? `${baseline} ${100 - step.percent}%, ` : ''}${candidate} ${step.percent}% (step ${i + 1}); watch ${formatDuration(step.watch)}, every ${formatDuration(config.analysis.interval)}:`);
      }
      for (const query of analysis.queries(candidate, baseline)) lines.push(`  query ${query}`);
      lines.push(`PATCH ${base}: traffic ${candidate} 100% (tag ${tag} removed; ${baseline} kept untagged for a fast rollback)`);
      const doomed = revisionsToDelete(service, await cloudRun.listRevisions(ref), config.cleanup.keep_revisions - 1, [baseline]);
      for (const name of doomed) lines.push(`DELETE ${base}/revisions/${name}`);
      lines.push(`on a failed measurement: PATCH ${base}: traffic ${baseline} 100% (one change), tag ${tag} removed`);
      for (const line of lines) deps.log(line);
      return { result: 'planned', exitCode: EXIT.done, message: `dry run: ${lines.length} steps printed, nothing changed` };
    },
  };
}

export type Rollout = ReturnType<typeof createRollout>;
