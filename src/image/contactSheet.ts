import sharp from 'sharp';

/**
 * Contact sheet of evaluation results (`petcut eval --sheet`): one row per
 * photo with the photo, the ground truth, the cut-out on a checkerboard and
 * the error map (false positives red, misses blue), and a caption above it.
 * The cells are drawn here from small planes; only the captions go through
 * SVG (librsvg), so the sheet's pixels do not depend on the fonts installed.
 */

/** Long side of a cell: small enough that the N worst rows kept while an eval runs stay a few MB. */
export const SHEET_CELL = 256;
const GAP = 8;
const CAPTION = 22;
const HEADER = 28;
const BACKDROP = 48;
const CHECKER = 16;
export const SHEET_COLUMNS = ['photo', 'ground truth', 'cut-out', 'errors: red extra, blue missed'] as const;

/** One row's planes at thumbnail size (width x height, each at most SHEET_CELL). */
export interface SheetRow {
  readonly caption: string;
  readonly width: number;
  readonly height: number;
  /** The photo, 3 bytes a pixel. */
  readonly rgb: Uint8Array;
  /** Ground truth: 1 foreground, 0 background. */
  readonly truth: Uint8Array;
  /** 0 where the ground truth says "ignore" (void, trimap band), 1 elsewhere. */
  readonly valid: Uint8Array;
  /** The predicted alpha, 0..255. */
  readonly alpha: Uint8Array;
}

/** The size a thumbnail of a width x height image gets (long side SHEET_CELL, never enlarged). */
export function thumbnailSize(width: number, height: number): { width: number; height: number } {
  const scale = Math.min(1, SHEET_CELL / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The photo, oriented as the engine orients it, at exactly width x height. */
export async function photoThumbnail(file: Buffer, width: number, height: number): Promise<Uint8Array> {
  return sharp(file).rotate().removeAlpha().toColourspace('srgb').resize(width, height, { fit: 'fill' }).raw().toBuffer();
}

/** The sheet's size for `rows` rows. */
export function sheetSize(rows: number): { width: number; height: number } {
  return { width: GAP + SHEET_COLUMNS.length * (SHEET_CELL + GAP), height: HEADER + rows * (CAPTION + SHEET_CELL + GAP) };
}

/** The sheet as a JPEG. */
export async function renderContactSheet(rows: readonly SheetRow[]): Promise<Buffer> {
  const { width, height } = sheetSize(rows.length);
  const canvas = Buffer.alloc(width * height * 3, 255);
  rows.forEach((row, r) => {
    const top = HEADER + r * (CAPTION + SHEET_CELL + GAP) + CAPTION;
    const cells = [photoCell, truthCell, cutoutCell, errorCell];
    cells.forEach((cell, c) => paintCell(canvas, width, GAP + c * (SHEET_CELL + GAP), top, row, cell));
  });
  const svg = captionsSvg(width, height, rows);
  return sharp(canvas, { raw: { width, height, channels: 3 } }).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]).jpeg({ quality: 88 }).toBuffer();
}

type Colour = [number, number, number];
type CellPainter = (row: SheetRow, i: number, x: number, y: number) => Colour;

const photoCell: CellPainter = (row, i) => [row.rgb[i * 3]!, row.rgb[i * 3 + 1]!, row.rgb[i * 3 + 2]!];

const truthCell: CellPainter = (row, i) => {
  if (row.valid[i] === 0) return [128, 128, 128];
  return row.truth[i] === 1 ? [255, 255, 255] : [0, 0, 0];
};

const cutoutCell: CellPainter = (row, i, x, y) => {
  const a = row.alpha[i]! / 255;
  const check = ((x / CHECKER) ^ (y / CHECKER)) & 1 ? 230 : 180;
  return [0, 1, 2].map((k) => Math.round(row.rgb[i * 3 + k]! * a + check * (1 - a))) as Colour;
};

const errorCell: CellPainter = (row, i) => {
  if (row.valid[i] === 0) return [64, 64, 64];
  const predicted = row.alpha[i]! >= 128;
  const truth = row.truth[i] === 1;
  if (predicted && !truth) return [230, 30, 30];
  if (!predicted && truth) return [40, 80, 240];
  return predicted ? [235, 235, 235] : [0, 0, 0];
};

/** One cell: the thumbnail centred on a dark backdrop. */
function paintCell(canvas: Buffer, canvasWidth: number, left: number, top: number, row: SheetRow, paint: CellPainter): void {
  const dx = Math.floor((SHEET_CELL - row.width) / 2);
  const dy = Math.floor((SHEET_CELL - row.height) / 2);
  for (let y = 0; y < SHEET_CELL; y++) {
    for (let x = 0; x < SHEET_CELL; x++) {
      const tx = x - dx;
      const ty = y - dy;
      const inside = tx >= 0 && ty >= 0 && tx < row.width && ty < row.height;
      const colour: Colour = inside ? paint(row, ty * row.width + tx, tx, ty) : [BACKDROP, BACKDROP, BACKDROP];
      canvas.set(colour, ((top + y) * canvasWidth + left + x) * 3);
    }
  }
}

const escapeXml = (text: string): string => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function captionsSvg(width: number, height: number, rows: readonly SheetRow[]): string {
  const text = (x: number, y: number, value: string, weight = 'normal'): string =>
    `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" font-size="14" font-weight="${weight}" fill="#111">${escapeXml(value)}</text>`;
  const header = SHEET_COLUMNS.map((name, c) => text(GAP + c * (SHEET_CELL + GAP), 19, name, 'bold'));
  const captions = rows.map((row, r) => text(GAP, HEADER + r * (CAPTION + SHEET_CELL + GAP) + 16, row.caption));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${[...header, ...captions].join('')}</svg>`;
}
