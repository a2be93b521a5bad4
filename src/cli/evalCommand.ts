import { readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Engine } from '../engine/index.js';
import { pairsFromFolders, pairsFromManifest } from '../eval/dataset.js';
import type { EvalPair } from '../eval/dataset.js';
import { readGroundTruth } from '../eval/maskReader.js';
import { boundaryF, iou, mae } from '../eval/metrics.js';
import { resizeMask, writeMaskPng } from '../image/masks.js';
import type { SegmentOptions } from '../engine/index.js';
import { makeDirs } from '../fsDirs.js';

export interface EvalFlags {
  images?: string;
  masks?: string;
  manifest?: string;
  ignore?: string;
  csv: string;
  only?: string;
  subject?: boolean;
  raw?: boolean;
  zoom?: boolean;
  refine?: boolean;
  save?: string;
}

export interface EvalRow {
  image: string;
  subject: string;
  iou: number;
  boundaryF: number;
  mae: number;
  ms: number;
  confidence: number;
  zoomed: boolean;
}

export function segmentOptionsFromFlags(flags: EvalFlags): SegmentOptions {
  if (flags.raw) return { subject: false, refine: false, zoomBelow: 0 };
  return { subject: flags.subject !== false, refine: flags.refine !== false, zoomBelow: flags.zoom === false ? 0 : undefined };
}

async function loadPairs(flags: EvalFlags): Promise<EvalPair[]> {
  let pairs: EvalPair[];
  if (flags.manifest) pairs = await pairsFromManifest(flags.manifest);
  else if (flags.images && flags.masks) pairs = await pairsFromFolders(flags.images, flags.masks);
  else throw new Error('give --images DIR --masks DIR, or --manifest FILE');
  const only = flags.only;
  return only ? pairs.filter((pair) => pair.subject.includes(only)) : pairs;
}

/** Cuts out every image, scores it against its mask, writes the CSV and returns the rows. */
export async function evaluate(engine: Engine, pairs: EvalPair[], options: SegmentOptions, ignoreValue: number | undefined, save?: string): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  if (save) await makeDirs(save);
  for (const pair of pairs) {
    const gt = await readGroundTruth(pair.mask, { ignoreValue });
    const started = performance.now();
    const segmentation = await engine.segment(await readFile(pair.image), options);
    const ms = performance.now() - started;
    let alpha = segmentation.alpha;
    if (segmentation.width !== gt.width || segmentation.height !== gt.height) {
      alpha = await resizeMask(segmentation.alpha, segmentation.width, segmentation.height, gt.width, gt.height);
    }
    if (save) {
      await writeMaskPng(alpha, gt.width, gt.height, join(save, `${basename(pair.image, extname(pair.image))}.png`));
    }
    rows.push({
      image: pair.image, subject: pair.subject, iou: iou(alpha, gt), boundaryF: boundaryF(alpha, gt, gt.width, gt.height).f,
      mae: mae(alpha, gt), ms, confidence: segmentation.confidence, zoomed: segmentation.zoomed,
    });
  }
  return rows;
}

const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

export function summarise(rows: EvalRow[]): string[] {
  const lines: string[] = [];
  const groups = new Map<string, EvalRow[]>([['all', rows]]);
  for (const row of rows) if (row.subject) groups.set(row.subject, [...(groups.get(row.subject) ?? []), row]);
  for (const [name, group] of groups) {
    lines.push(`${name.padEnd(14)} n=${String(group.length).padStart(3)}  IoU ${mean(group.map((r) => r.iou)).toFixed(4)}  boundary F ${mean(group.map((r) => r.boundaryF)).toFixed(4)}  MAE ${mean(group.map((r) => r.mae)).toFixed(4)}  ${Math.round(mean(group.map((r) => r.ms)))} ms/image`);
  }
  const worst = [...rows].sort((a, b) => a.iou - b.iou).slice(0, 5);
  lines.push(`worst: ${worst.map((r) => `${basename(r.image)} ${r.iou.toFixed(3)}`).join(', ')}`);
  return lines;
}

export function toCsv(rows: EvalRow[]): string {
  const header = 'image,subject,iou,boundary_f,mae,ms,confidence,zoomed';
  const lines = rows.map((r) => [basename(r.image), r.subject, r.iou.toFixed(5), r.boundaryF.toFixed(5), r.mae.toFixed(5), r.ms.toFixed(0), r.confidence.toFixed(4), r.zoomed].join(','));
  return `${[header, ...lines].join('\n')}\n`;
}

export async function runEvalCommand(engine: Engine, flags: EvalFlags, log: (line: string) => void): Promise<EvalRow[]> {
  const pairs = await loadPairs(flags);
  if (pairs.length === 0) throw new Error('no image/mask pairs found');
  const ignore = flags.ignore === undefined ? undefined : Number(flags.ignore);
  const rows = await evaluate(engine, pairs, segmentOptionsFromFlags(flags), ignore, flags.save);
  await writeFile(flags.csv, toCsv(rows));
  for (const line of summarise(rows)) log(line);
  log(`per-image results: ${flags.csv}`);
  return rows;
}
