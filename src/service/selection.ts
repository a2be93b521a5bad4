import { SUBJECT_MODES } from '../engine/index.js';
import type { FoundSubject, SegmentOptions, SubjectFacts, SubjectMode } from '../engine/index.js';
import { invalidOption } from '../errors.js';
import type { Point } from '../image/types.js';

/**
 * Which subjects a cut-out keeps (HTTP `subjects`/`point`/`people`, CLI
 * `--subjects`/`--point`/`--people`), with its defaults filled in: the cut-out
 * depends on it, so it is part of the cache's keys, and two ways of asking
 * the same selection must give one key.
 */
export interface SubjectSelection {
  readonly keep: SubjectMode;
  /** Keep people too (owner-and-pet prints). */
  readonly people: boolean;
  /** The tap point as shares (0..1) of the oriented image's width and height; only with keep `point`. */
  readonly point?: Point;
}

export const DEFAULT_SELECTION: SubjectSelection = Object.freeze({ keep: 'pets', people: false });

/** A tap point's precision: 1 % of the image is finer than a finger, and nearby taps share a cache entry. */
const POINT_STEP = 100;
export const roundShare = (share: number): number => Math.round(share * POINT_STEP) / POINT_STEP;

/**
 * Reads a selection as HTTP fields and CLI flags give it (text). `point` alone
 * implies `subjects=point`; `subjects=point` needs a point; a point with
 * another mode is refused (it would be ignored, and split the cache for
 * nothing). `people`: keep|true|1|'' keep people, drop|false|0 (default) drop them.
 */
export function parseSelection(fields: { subjects?: string; point?: string; people?: string }): SubjectSelection {
  const { subjects, point, people } = fields;
  if (subjects !== undefined && !(SUBJECT_MODES as readonly string[]).includes(subjects)) throw invalidOption('subjects', `must be one of ${SUBJECT_MODES.join(', ')}, got "${subjects}"`);
  const keep = (subjects as SubjectMode | undefined) ?? (point !== undefined ? 'point' : DEFAULT_SELECTION.keep);
  const tap = point === undefined ? undefined : parsePoint(point);
  if (keep === 'point' && !tap) throw invalidOption('point', 'subjects=point needs the tap point as "x,y" shares of the width and height (0..1), e.g. point=0.42,0.61');
  if (tap && keep !== 'point') throw invalidOption('point', `is the tap point of subjects=point, not of subjects=${keep}`);
  return { keep, people: parsePeople(people), ...(tap ? { point: tap } : {}) };
}

function parsePoint(text: string): Point {
  const parts = text.split(',').map((part) => part.trim());
  const [x, y] = parts.map((part) => (/^(\d+(\.\d*)?|\.\d+)$/.test(part) ? Number(part) : NaN));
  if (parts.length !== 2 || !Number.isFinite(x) || !Number.isFinite(y)) throw invalidOption('point', `must be "x,y" as shares of the width and height (0..1), e.g. 0.42,0.61; got "${text.slice(0, 64)}"`);
  if (x! > 1 || y! > 1) throw invalidOption('point', `shares must be within 0..1 (of the photo's width and height, not pixels); got "${text.slice(0, 64)}"`);
  return { x: roundShare(x!), y: roundShare(y!) };
}

function parsePeople(text: string | undefined): boolean {
  if (text === undefined || text === 'drop' || text === 'false' || text === '0') return false;
  if (text === 'keep' || text === 'true' || text === '1' || text === '') return true;
  throw invalidOption('people', `must be keep or drop (true/false), got "${text.slice(0, 64)}"`);
}

/** The stable text of a selection for cache keys. */
export function selectionKey(selection: SubjectSelection = DEFAULT_SELECTION): string {
  const point = selection.point ? `${roundShare(selection.point.x).toFixed(2)},${roundShare(selection.point.y).toFixed(2)}` : '-';
  return `${selection.keep}|people=${selection.people ? 1 : 0}|point=${point}`;
}

/** What the engine is asked for. */
export function segmentOptionsOf(selection: SubjectSelection = DEFAULT_SELECTION): Pick<SegmentOptions, 'keep' | 'people' | 'point'> {
  return { keep: selection.keep, people: selection.people, ...(selection.point ? { point: selection.point } : {}) };
}

/**
 * At most this many subjects are kept in the facts (cache metadata, the
 * X-Petcut-Subjects header, JSON): a photo of a crowd must not make a header
 * or a store's metadata block (2 KB on S3) overflow. Animals come first.
 */
export const MAX_SUBJECTS = 8;
const MAX_LABEL = 32;

/** The engine's facts, bounded: subjects capped, labels short, scores to 3 decimals, boxes in whole pixels. */
export function boundedFacts(facts: SubjectFacts): SubjectFacts {
  if (!facts.subjects) return facts;
  return { ...facts, subjects: facts.subjects.slice(0, MAX_SUBJECTS).map(boundedSubject) };
}

function boundedSubject(subject: FoundSubject): FoundSubject {
  const { x, y, width, height } = subject.box;
  return {
    label: String(subject.label).slice(0, MAX_LABEL),
    score: Math.round(Math.min(1, Math.max(0, Number(subject.score) || 0)) * 1000) / 1000,
    box: { x: Math.round(x), y: Math.round(y), width: Math.round(width), height: Math.round(height) },
    kept: subject.kept === true,
  };
}

/** Subjects as cache metadata (compact JSON, length-bounded by boundedFacts). */
export function formatSubjects(subjects: readonly FoundSubject[] | undefined): string | undefined {
  return subjects ? JSON.stringify(subjects.map((s) => [s.label, s.score, s.box.x, s.box.y, s.box.width, s.box.height, s.kept ? 1 : 0])) : undefined;
}

/** The inverse of formatSubjects; anything malformed (or an old entry without them) reads as absent. */
export function parseSubjects(text: string | undefined): FoundSubject[] | undefined {
  if (!text || text.length > 4096) return undefined;
  try {
    const rows = JSON.parse(text) as unknown;
    if (!Array.isArray(rows)) return undefined;
    const subjects = rows.map((row: unknown) => {
      if (!Array.isArray(row) || row.length !== 7 || typeof row[0] !== 'string' || row.slice(1).some((n) => typeof n !== 'number')) throw new Error('bad row');
      const [label, score, x, y, width, height, kept] = row as [string, number, number, number, number, number, number];
      return boundedSubject({ label, score, box: { x, y, width, height }, kept: kept === 1 });
    });
    return subjects.slice(0, MAX_SUBJECTS);
  } catch {
    return undefined;
  }
}

/** One line of what was found, for the CLI: "pet found: cat 0.91 kept, person 0.88 dropped" (empty before pet finding ran). */
export function formatSubjectsLine(facts: Pick<SubjectFacts, 'subjects' | 'petFound'>): string {
  const subjects = (facts.subjects ?? []).slice(0, MAX_SUBJECTS).map((s) => `${s.label} ${s.score.toFixed(2)} ${s.kept ? 'kept' : 'dropped'}`).join(', ');
  const verdict = facts.petFound === undefined ? '' : facts.petFound ? 'pet found' : 'no pet found (saliency cut-out)';
  return [verdict, subjects].filter(Boolean).join(': ');
}
