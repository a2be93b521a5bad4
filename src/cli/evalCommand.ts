import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { createEngine, SUBJECT_MODES } from '../engine/index.js';
import type { Engine, EngineConfig, SegmentOptions, SubjectMode } from '../engine/index.js';
import { pairsFromFolders, pairsFromManifest } from '../eval/dataset.js';
import { evaluateSets } from '../eval/evaluate.js';
import type { EvalFailure, EvalSet } from '../eval/evaluate.js';
import { MAX_SHEET_ROWS, WorstSheet } from '../eval/sheet.js';
import { summaryJson, summaryTable, toCsv } from '../eval/summary.js';
import type { EvalRow } from '../eval/summary.js';
import { makeDirs } from '../fsDirs.js';

export type { EvalRow } from '../eval/summary.js';
export { summaryTable as summarise, toCsv } from '../eval/summary.js';

/**
 * `petcut eval`: cut-out quality against ground-truth masks over one or more
 * sets (manifests, or a pair of folders), a summary per set and class, and
 * optionally a contact sheet of the worst cut-outs. Exit codes: 0 every
 * image scored; 1 some image could not be cut out or scored (each is named;
 * the others are still written), or the engine failed; 2 a bad flag, a
 * missing or malformed manifest, or files it names that are missing; 3
 * stopped by SIGINT/SIGTERM after the image in hand (what was scored is
 * written and summarised).
 */
export interface EvalFlags {
  images?: string;
  masks?: string;
  manifest?: string | string[];
  ignore?: string;
  csv: string;
  json?: string;
  only?: string;
  every?: string;
  subjects?: string;
  people?: boolean;
  point?: string;
  subject?: boolean;
  raw?: boolean;
  zoom?: boolean;
  refine?: boolean;
  save?: string;
  sheet?: string;
  sheetWorst?: string;
  progress?: boolean;
}

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_STOPPED = 3;

/** A wrong flag or input set: exit 2, the message names it and what is allowed. */
export class EvalUsageError extends Error {}

const HELP = `
Examples:
  petcut eval --manifest ../shared/eval-dev/manifest.tsv
  petcut eval --manifest ../shared/eval-dev/manifest.tsv,../shared/eval-animals/manifest.tsv \\
    --subjects all-salient --json before.json --sheet worst.jpg --sheet-worst 16
  petcut eval --manifest A.tsv --manifest B.tsv --subjects pets --people --csv pets.csv
  petcut eval --images photos/ --masks masks/ --ignore 128 --raw

A manifest is a TSV with "image" and "mask" columns (paths relative to it) and
optionally "subject" (the class, e.g. dog); each manifest is a set named after
its folder. The summary table (stdout) has per set, per class and overall: n,
mean IoU, boundary F, MAE, the share under IoU 0.5 and over 0.9, the worst IoU,
mean ms per image, and how many the engine flagged "no pet found". Progress is
on stderr.

Ctrl-C (SIGINT) or SIGTERM stops after the image in hand and still writes the
CSV, JSON, sheet and summary of what was scored.

Exit codes: 0 every image scored; 1 some image failed (named; the rest is
written) or the engine failed; 2 a bad flag, manifest or missing file; 3
stopped by a signal (the results so far are written).`;

function collectManifests(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((part) => part.trim()).filter(Boolean)];
}

export function registerEvalCommand(program: Command, log: (line: string) => void, engineConfig: (model?: string) => EngineConfig): void {
  program.command('eval')
    .description('measure cut-out quality against ground-truth masks (IoU, boundary F, MAE, time) over one or more sets; summary table, CSV/JSON and a contact sheet of the worst cut-outs')
    .option('--images <dir>', 'folder of photos')
    .option('--masks <dir>', 'folder of masks with the same base names (.png)')
    .option('--manifest <tsv>', 'TSV with image, mask (and subject) columns, paths relative to it; repeat it or separate with commas for several sets', collectManifests)
    .option('--ignore <value>', 'mask value to ignore (e.g. 128 for trimaps, 255 for palette masks)')
    .option('--csv <file>', 'per-image results as CSV', 'eval.csv')
    .option('--json <file>', 'the summary groups and every row as JSON')
    .option('--only <subject>', 'only manifest rows whose subject column contains this text')
    .option('--every <k>', 'only every k-th row of each set (after --only): a quick, class-balanced look at a long set')
    .addOption(new Option('--subjects <mode>', `which subjects the cut-out keeps: ${SUBJECT_MODES.join(', ')} (default: the engine's, pets)`))
    .option('--people', 'keep people too (owner-and-pet prints)')
    .option('--point <x,y>', 'with --subjects point: the tap point as shares of width and height (default 0.5,0.5)')
    .option('--raw', 'raw model output with a bilinear upscale (no subject selection, no refinement)')
    .option('--no-subject', 'no subject selection')
    .option('--no-zoom', 'no zoomed second pass')
    .option('--no-refine', 'no edge-aware refinement')
    .option('--model <name|path.onnx>', 'model to evaluate')
    .option('--save <dir>', 'also write each cut-out mask here (a folder per set when there are several)')
    .option('--sheet <file.jpg>', 'write a contact sheet of the worst cut-outs: photo, ground truth, cut-out on a checkerboard, error map')
    .option('--sheet-worst <n>', `rows on the sheet (1-${MAX_SHEET_ROWS})`, '12')
    .option('--no-progress', 'no progress lines on stderr')
    .addHelpText('after', HELP)
    .exitOverride((error) => {
      // Commander's own errors (unknown flag, missing value) are usage errors too; help and version are not errors.
      process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    })
    .action(async (flags: EvalFlags & { model?: string }) => {
      let plan: EvalPlan;
      try {
        plan = await planEval(flags);
      } catch (error) {
        if (!(error instanceof EvalUsageError)) throw error;
        log(`petcut eval: ${error.message}`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const engine = await createEngine({ config: engineConfig(flags.model), log });
      let stop = false;
      const onSignal = (): void => {
        log('petcut eval: stopping after this image; the results so far will be written');
        stop = true;
      };
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        const result = await runEval(engine, { ...plan, stopped: () => stop }, log, (text) => process.stdout.write(text));
        if (result.failures.length > 0) process.exitCode = EXIT_FAILED;
        if (stop) process.exitCode = EXIT_STOPPED;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
        await engine.close();
      }
    });
}

/** What to evaluate and how, checked before the engine starts. */
export interface EvalPlan {
  sets: EvalSet[];
  segment: SegmentOptions;
  ignoreValue?: number;
  csv: string;
  json?: string;
  save?: string;
  sheet?: { file: string; rows: number };
  progress: boolean;
  /** Checked before each image: true ends the run there, and what was scored is written. */
  stopped?: () => boolean;
}

/** Checks the flags and reads the manifests; throws EvalUsageError naming what is wrong. */
export async function planEval(flags: EvalFlags): Promise<EvalPlan> {
  const segment = segmentOptionsFromFlags(flags);
  const every = flags.every === undefined ? 1 : integerFlag('--every', flags.every, 1, 1000);
  const sets = (await loadSets(flags)).map((set) => ({ ...set, pairs: set.pairs.filter((_, i) => i % every === 0) }));
  const ignoreValue = flags.ignore === undefined ? undefined : integerFlag('--ignore', flags.ignore, 0, 255);
  const sheet = flags.sheet ? { file: flags.sheet, rows: integerFlag('--sheet-worst', flags.sheetWorst ?? '12', 1, MAX_SHEET_ROWS) } : undefined;
  if (sheet && !/\.jpe?g$/i.test(sheet.file)) throw new EvalUsageError(`--sheet ${sheet.file}: the sheet is a JPEG; name it .jpg`);
  return {
    sets, segment, ignoreValue, csv: flags.csv, json: flags.json, save: flags.save, sheet,
    progress: flags.progress !== false,
  };
}

function integerFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new EvalUsageError(`${name} "${value}": use a whole number from ${min} to ${max}`);
  return n;
}

export function segmentOptionsFromFlags(flags: EvalFlags): SegmentOptions {
  const keep = subjectMode(flags.subjects);
  if (flags.point !== undefined && keep !== 'point') throw new EvalUsageError('--point needs --subjects point');
  const chosen: { keep?: SubjectMode; people?: boolean; point?: { x: number; y: number } } = {};
  if (keep) chosen.keep = keep;
  if (flags.people) chosen.people = true;
  if (keep === 'point') chosen.point = pointFlag(flags.point ?? '0.5,0.5');
  if (flags.raw) return { ...chosen, subject: false, refine: false, zoomBelow: 0 };
  return { ...chosen, subject: flags.subject !== false, refine: flags.refine !== false, zoomBelow: flags.zoom === false ? 0 : undefined };
}

function subjectMode(value: string | undefined): SubjectMode | undefined {
  if (value === undefined) return undefined;
  if (!(SUBJECT_MODES as readonly string[]).includes(value)) throw new EvalUsageError(`--subjects "${value}": use one of ${SUBJECT_MODES.join(', ')}`);
  return value as SubjectMode;
}

function pointFlag(value: string): { x: number; y: number } {
  const parts = value.split(',').map(Number);
  if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v) || v < 0 || v > 1)) {
    throw new EvalUsageError(`--point "${value}": use x,y as shares of the width and height, each 0 to 1 (e.g. 0.5,0.4)`);
  }
  return { x: parts[0]!, y: parts[1]! };
}

async function loadSets(flags: EvalFlags): Promise<EvalSet[]> {
  const manifests = typeof flags.manifest === 'string' ? collectManifests(flags.manifest) : flags.manifest ?? [];
  if ((flags.images === undefined) !== (flags.masks === undefined)) throw new EvalUsageError('--images and --masks go together');
  if (manifests.length === 0 && !flags.images) throw new EvalUsageError('give --manifest FILE (one or more), or --images DIR --masks DIR');
  const named: Array<{ name: string; read: () => Promise<EvalSet['pairs']> }> = manifests.map((file) => ({
    name: basename(dirname(resolve(file))), read: () => readManifest(file),
  }));
  if (flags.images && flags.masks) {
    const { images, masks } = flags as { images: string; masks: string };
    named.push({ name: basename(resolve(images)), read: () => readFolders(images, masks) });
  }
  const sets: EvalSet[] = [];
  for (const [i, entry] of named.entries()) {
    const taken = sets.some((set) => set.name === entry.name);
    const only = flags.only;
    const pairs = (await entry.read()).filter((pair) => !only || pair.subject.includes(only));
    sets.push({ name: taken ? `${entry.name}-${i + 1}` : entry.name, pairs });
  }
  const missing = sets.flatMap((set) => set.pairs.flatMap((pair) => [pair.image, pair.mask])).filter((path) => !existsSync(path));
  if (missing.length > 0) throw new EvalUsageError(`${missing.length} file(s) the sets name are missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  if (sets.every((set) => set.pairs.length === 0)) throw new EvalUsageError(`no image/mask pairs found${flags.only ? ` with subject containing "${flags.only}"` : ''}`);
  return sets;
}

async function readManifest(file: string): Promise<EvalSet['pairs']> {
  if (!existsSync(file)) throw new EvalUsageError(`--manifest ${file}: no such file`);
  try {
    return await pairsFromManifest(file);
  } catch (error) {
    throw new EvalUsageError(`--manifest ${(error as Error).message}`);
  }
}

async function readFolders(images: string, masks: string): Promise<EvalSet['pairs']> {
  for (const [flag, dir] of [['--images', images], ['--masks', masks]] as const) if (!existsSync(dir)) throw new EvalUsageError(`${flag} ${dir}: no such folder`);
  return pairsFromFolders(images, masks);
}

/** Runs the plan: scores every image, writes the CSV (and JSON, sheet), prints the summary table with `print`. */
export async function runEval(engine: Engine, plan: EvalPlan, log: (line: string) => void, print: (text: string) => void): Promise<{ rows: EvalRow[]; failures: EvalFailure[]; sheetRows: EvalRow[] }> {
  const sheet = plan.sheet ? new WorstSheet(plan.sheet.rows) : undefined;
  const progress = plan.progress ? progressLine(log) : undefined;
  const { rows, failures } = await evaluateSets(engine, plan.sets, {
    segment: plan.segment, ignoreValue: plan.ignoreValue, save: plan.save,
    onScored: sheet ? (row, photo, alpha, gt) => sheet.offer(row, photo, alpha, gt) : undefined,
    onProgress: progress, stopped: plan.stopped,
  });
  const scored = rows.length + failures.length;
  const total = plan.sets.reduce((n, set) => n + set.pairs.length, 0);
  if (scored < total) log(`petcut eval: stopped after ${scored} of ${total} images; the results below are for those`);
  for (const failure of failures) log(`petcut eval: ${failure.set}/${basename(failure.image)}: ${failure.message}`);
  await writeOutput(plan.csv, toCsv(rows));
  if (plan.json) await writeOutput(plan.json, summaryJson(rows, { ...plan.segment, sets: plan.sets.map((s) => s.name) }));
  if (sheet && plan.sheet && rows.length > 0) await writeOutput(plan.sheet.file, await sheet.render());
  if (rows.length > 0) print(`${summaryTable(rows).join('\n')}\n`);
  log(`per-image results: ${plan.csv}${plan.json ? `, ${plan.json}` : ''}${sheet && plan.sheet ? `; the ${sheet.rows().length} worst: ${plan.sheet.file}` : ''}${failures.length ? `; ${failures.length} failed` : ''}`);
  return { rows, failures, sheetRows: sheet?.rows() ?? [] };
}

async function writeOutput(file: string, data: string | Buffer): Promise<void> {
  await makeDirs(dirname(resolve(file)));
  await writeFile(file, data);
}

/** n/total and the running mean IoU: every image on a terminal (one rewritten line), else every tenth and the last. */
function progressLine(log: (line: string) => void): (done: number, total: number, row: EvalRow | undefined) => void {
  let sum = 0;
  let scored = 0;
  const tty = process.stderr.isTTY;
  return (done, total, row) => {
    if (row) {
      sum += row.iou;
      scored++;
    }
    const text = `[${done}/${total}] mean IoU ${scored ? (sum / scored).toFixed(4) : '-'}${row ? `  ${row.set}/${basename(row.image)} ${row.iou.toFixed(3)}` : '  (failed)'}`;
    if (tty) process.stderr.write(`\r${text.padEnd(100)}${done === total ? '\n' : ''}`);
    else if (done % 10 === 0 || done === total) log(text);
  };
}
