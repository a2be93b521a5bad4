import { basename } from 'node:path';

/** One scored image. */
export interface EvalRow {
  /** The set it came from: the manifest's folder name (or the images folder's). */
  set: string;
  image: string;
  /** The manifest's `subject` column: the class of the photo (dog, bird, ...), '' when none. */
  subject: string;
  iou: number;
  boundaryF: number;
  mae: number;
  ms: number;
  confidence: number;
  zoomed: boolean;
  /** The engine's "an animal was found" (absent where it does not say, e.g. all-salient). */
  petFound?: boolean;
  /** What the class models found, as `label:score:kept|dropped` joined by `;` (absent where the engine does not say). */
  found?: string;
}

/** The figures of a group of rows. */
export interface GroupStats {
  set: string;
  /** The class, or `all` for the whole set. */
  subject: string;
  n: number;
  iou: number;
  boundaryF: number;
  mae: number;
  /** Share of rows with IoU under 0.5 and over 0.9. */
  under05: number;
  over09: number;
  worstIou: number;
  worstImage: string;
  ms: number;
  /** Rows the engine flagged "no pet found", of those where it says. */
  noPet?: { flagged: number; of: number };
}

const ALL = 'all';

const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

export function groupStats(set: string, subject: string, rows: readonly EvalRow[]): GroupStats {
  const worst = rows.reduce((a, b) => (b.iou < a.iou ? b : a), rows[0]!);
  const told = rows.filter((row) => row.petFound !== undefined);
  return {
    set, subject, n: rows.length,
    iou: mean(rows.map((r) => r.iou)), boundaryF: mean(rows.map((r) => r.boundaryF)), mae: mean(rows.map((r) => r.mae)),
    under05: rows.filter((r) => r.iou < 0.5).length / rows.length,
    over09: rows.filter((r) => r.iou > 0.9).length / rows.length,
    worstIou: worst.iou, worstImage: basename(worst.image),
    ms: mean(rows.map((r) => r.ms)),
    ...(told.length ? { noPet: { flagged: told.filter((r) => r.petFound === false).length, of: told.length } } : {}),
  };
}

/** Per set: the set, then each of its classes; then, with more than one set, every row together. */
export function summaryGroups(rows: readonly EvalRow[]): GroupStats[] {
  const bySet = new Map<string, EvalRow[]>();
  for (const row of rows) bySet.set(row.set, [...(bySet.get(row.set) ?? []), row]);
  const groups: GroupStats[] = [];
  for (const [set, setRows] of bySet) {
    groups.push(groupStats(set, ALL, setRows));
    const byClass = new Map<string, EvalRow[]>();
    for (const row of setRows) if (row.subject) byClass.set(row.subject, [...(byClass.get(row.subject) ?? []), row]);
    for (const [subject, classRows] of [...byClass].sort(([a], [b]) => a.localeCompare(b))) groups.push(groupStats(set, subject, classRows));
  }
  if (bySet.size > 1) groups.push(groupStats(ALL, ALL, rows));
  return groups;
}

const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** The summary as a fixed-width table, then the five worst images. */
export function summaryTable(rows: readonly EvalRow[]): string[] {
  const groups = summaryGroups(rows);
  const withPets = groups.some((g) => g.noPet);
  const setWidth = Math.max(5, ...groups.map((g) => g.set.length)) + 2;
  const classWidth = Math.max(5, ...groups.map((g) => g.subject.length)) + 2;
  const head = `${'set'.padEnd(setWidth)}${'class'.padEnd(classWidth)}${'n'.padStart(5)}${'IoU'.padStart(8)}${'bF'.padStart(8)}${'MAE'.padStart(8)}${'<0.5'.padStart(8)}${'>0.9'.padStart(8)}${'worst'.padStart(8)}${'ms'.padStart(7)}${withPets ? '  no pet' : ''}`;
  const lines = groups.map((g) => [
    g.set.padEnd(setWidth), g.subject.padEnd(classWidth), String(g.n).padStart(5),
    g.iou.toFixed(4).padStart(8), g.boundaryF.toFixed(4).padStart(8), g.mae.toFixed(4).padStart(8),
    percent(g.under05).padStart(8), percent(g.over09).padStart(8), g.worstIou.toFixed(3).padStart(8), String(Math.round(g.ms)).padStart(7),
    withPets ? `  ${g.noPet ? `${g.noPet.flagged}/${g.noPet.of}` : '-'}` : '',
  ].join(''));
  const worst = [...rows].sort((a, b) => a.iou - b.iou).slice(0, 5);
  return [head, ...lines, `worst: ${worst.map((r) => `${r.set}/${basename(r.image)} ${r.iou.toFixed(3)}`).join(', ')}`];
}

/** The summary and every row, for scripts (`--json`). */
export function summaryJson(rows: readonly EvalRow[], options: Record<string, unknown>): string {
  const perImage = rows.map((r) => ({ ...r, image: basename(r.image) }));
  return `${JSON.stringify({ options, groups: summaryGroups(rows), rows: perImage }, null, 2)}\n`;
}

const CSV_COLUMNS = 'image,subject,iou,boundary_f,mae,ms,confidence,zoomed';

/** Per image; the first eight columns are those of the single-set eval, so older readers keep working. */
export function toCsv(rows: readonly EvalRow[]): string {
  const header = `${CSV_COLUMNS},set,pet_found,found`;
  const lines = rows.map((r) => [
    basename(r.image), r.subject, r.iou.toFixed(5), r.boundaryF.toFixed(5), r.mae.toFixed(5), r.ms.toFixed(0), r.confidence.toFixed(4), r.zoomed,
    r.set, r.petFound ?? '', r.found ?? '',
  ].join(','));
  return `${[header, ...lines].join('\n')}\n`;
}
