import { basename } from 'node:path';
import { photoThumbnail, renderContactSheet, thumbnailSize } from '../image/contactSheet.js';
import type { SheetRow } from '../image/contactSheet.js';
import { resizeMask } from '../image/masks.js';
import type { GroundTruth } from './maskReader.js';
import type { EvalRow } from './summary.js';

/** At most this many rows on a sheet: each is about 290 px tall, and a JPEG may not pass 65,535 px. */
export const MAX_SHEET_ROWS = 200;

interface Kept { row: EvalRow; sheet: SheetRow }

/**
 * The N worst cut-outs by IoU, kept as thumbnails while the eval runs (memory:
 * N small rows, whatever the number of photos), then drawn as a contact sheet.
 */
export class WorstSheet {
  private readonly kept: Kept[] = [];

  constructor(private readonly size: number) {}

  /** Whether a row with this IoU would be kept (so the caller makes thumbnails only then). */
  wants(iou: number): boolean {
    return this.kept.length < this.size || iou < this.kept[this.kept.length - 1]!.row.iou;
  }

  /** Keeps the row if it is among the worst; `alpha` and `gt` are at the ground truth's size. */
  async offer(row: EvalRow, photo: Buffer, alpha: Uint8Array, gt: GroundTruth): Promise<void> {
    if (!this.wants(row.iou)) return;
    const { width, height } = thumbnailSize(gt.width, gt.height);
    const shrink = (plane: Uint8Array): Promise<Uint8Array> => resizeMask(plane, gt.width, gt.height, width, height);
    const truth = (await shrink(gt.fg.map((v) => v * 255))).map((v) => (v >= 128 ? 1 : 0));
    const valid = (await shrink(gt.valid.map((v) => v * 255))).map((v) => (v >= 128 ? 1 : 0));
    const sheet: SheetRow = { caption: caption(row), width, height, rgb: await photoThumbnail(photo, width, height), truth, valid, alpha: await shrink(alpha) };
    this.kept.push({ row, sheet });
    this.kept.sort((a, b) => a.row.iou - b.row.iou);
    if (this.kept.length > this.size) this.kept.pop();
  }

  /** The kept rows, worst first. */
  rows(): EvalRow[] {
    return this.kept.map((k) => k.row);
  }

  render(): Promise<Buffer> {
    return renderContactSheet(this.kept.map((k) => k.sheet));
  }
}

function caption(row: EvalRow): string {
  const pet = row.petFound === false ? '  NO PET FOUND' : '';
  const found = row.found === undefined ? '' : `  ${foundCaption(row.found)}`;
  const subject = row.subject ? ` (${row.subject})` : '';
  const text = `${row.set}/${basename(row.image)}${subject}  IoU ${row.iou.toFixed(3)}  bF ${row.boundaryF.toFixed(3)}${pet}${found}`;
  // About what fits across the four cells at 14 px.
  return text.length > 130 ? `${text.slice(0, 129)}…` : text;
}

/** `kept cat 0.91, dog 0.80; dropped 3 (person, couch)` from the row's `label:score:kept|dropped;...`. */
function foundCaption(found: string): string {
  const subjects = found.split(';').filter(Boolean).map((entry) => entry.split(':') as [string, string, string]);
  if (subjects.length === 0) return 'nothing detected';
  const kept = subjects.filter(([, , state]) => state === 'kept').map(([label, score]) => `${label} ${score}`);
  const dropped = [...new Set(subjects.filter(([, , state]) => state !== 'kept').map(([label]) => label))];
  const droppedCount = subjects.length - kept.length;
  return `kept ${kept.length ? kept.join(', ') : 'none'}${droppedCount ? `; dropped ${droppedCount} (${dropped.join(', ')})` : ''}`;
}
