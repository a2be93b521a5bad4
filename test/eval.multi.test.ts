import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';
import type { Engine } from '../src/engine/index.js';
import { EvalUsageError, planEval, runEval } from '../src/cli/evalCommand.js';
import type { EvalFlags } from '../src/cli/evalCommand.js';
import { SHEET_CELL, sheetSize } from '../src/image/contactSheet.js';
import { summaryGroups } from '../src/eval/summary.js';
import type { EvalRow } from '../src/eval/summary.js';
import { discJpeg, discScene } from './images.js';
import type { Disc } from './images.js';
import { testEngineConfig } from './support/env.js';
import { sharedPath, sharedPresent } from './support/shared.js';

/**
 * `petcut eval` over several manifests with the real model: generated photos
 * (a textured disc on a checked background) whose masks are known, one of
 * them deliberately wrong so that the worst row is known too.
 */
let dir: string;
let engine: Engine;

/** A 240x180 photo and its mask, the mask at `scale` of the photo's size (the eval resizes the cut-out to it). */
async function writePhoto(folder: string, name: string, photoDiscs: Disc[], truthDiscs: Disc[], scale = 1): Promise<void> {
  await mkdir(join(folder, 'images'), { recursive: true });
  await mkdir(join(folder, 'masks'), { recursive: true });
  await writeFile(join(folder, 'images', `${name}.jpg`), (await discJpeg(240, 180, photoDiscs)).jpeg);
  const [width, height] = [240 * scale, 180 * scale];
  const scaled = truthDiscs.map((d) => ({ cx: d.cx * scale, cy: d.cy * scale, r: d.r * scale }));
  const truth = Buffer.from(discScene(width, height, scaled).truth.map((v) => v * 255));
  await sharp(truth, { raw: { width, height, channels: 1 } }).png().toFile(join(folder, 'masks', `${name}.png`));
}

async function writeManifest(folder: string, rows: Array<[string, string]>): Promise<string> {
  const file = join(folder, 'manifest.tsv');
  await writeFile(file, ['image\tmask\tsubject\tlicense', ...rows.map(([name, subject]) => `images/${name}.jpg\tmasks/${name}.png\t${subject}\tgenerated`)].join('\n'));
  return file;
}

const centre: Disc = { cx: 120, cy: 90, r: 55 };
const left: Disc = { cx: 70, cy: 90, r: 40 };
const flags = (extra: Partial<EvalFlags>): EvalFlags => ({ csv: join(dir, 'out', 'eval.csv'), progress: false, ...extra });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-eval-'));
  await writePhoto(join(dir, 'setA'), 'a1', [centre], [centre]);
  await writePhoto(join(dir, 'setA'), 'a2', [left], [left], 0.5);
  await writeManifest(join(dir, 'setA'), [['a1', 'cat'], ['a2', 'dog']]);
  // The truth is a disc elsewhere: the cut-out (of the disc in the photo) scores near 0.
  await writePhoto(join(dir, 'setB'), 'b1', [left], [{ cx: 180, cy: 90, r: 40 }]);
  await writeManifest(join(dir, 'setB'), [['b1', 'cat']]);
  engine = await createEngine({ config: testEngineConfig() });
}, 120_000);

afterAll(async () => {
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

describe('petcut eval over several manifests', () => {
  it('scores every set, summarises per set, class and overall from the rows, and draws the worst on a sheet', async () => {
    const sheetFile = join(dir, 'out', 'worst.jpg');
    const plan = await planEval(flags({
      manifest: [join(dir, 'setA', 'manifest.tsv'), join(dir, 'setB', 'manifest.tsv')],
      json: join(dir, 'out', 'eval.json'), sheet: sheetFile, sheetWorst: '2', subjects: 'all-salient',
    }));
    expect(plan.sets.map((s) => [s.name, s.pairs.length])).toEqual([['setA', 2], ['setB', 1]]);
    expect(plan.segment.keep).toBe('all-salient');
    let printed = '';
    const { rows, failures, sheetRows } = await runEval(engine, plan, () => {}, (text) => { printed += text; });
    expect(failures).toEqual([]);
    const byName = new Map(rows.map((r) => [r.image.split('/').pop(), r]));
    expect(byName.get('a1.jpg')!.iou).toBeGreaterThan(0.9);
    expect(byName.get('a2.jpg')!.iou).toBeGreaterThan(0.85);
    expect(byName.get('b1.jpg')!.iou).toBeLessThan(0.1);

    const groups = summaryGroups(rows);
    const group = (set: string, subject: string) => groups.find((g) => g.set === set && g.subject === subject)!;
    const setA = rows.filter((r) => r.set === 'setA');
    expect(group('setA', 'all')).toMatchObject({ n: 2, under05: 0, worstIou: Math.min(...setA.map((r) => r.iou)) });
    expect(group('setA', 'all').iou).toBeCloseTo(mean(setA.map((r) => r.iou)), 10);
    expect(group('setA', 'all').boundaryF).toBeCloseTo(mean(setA.map((r) => r.boundaryF)), 10);
    expect(group('setA', 'all').over09).toBe(setA.filter((r) => r.iou > 0.9).length / 2);
    expect(group('setA', 'dog')).toMatchObject({ n: 1, worstImage: 'a2.jpg' });
    expect(group('setB', 'all')).toMatchObject({ n: 1, under05: 1, over09: 0 });
    expect(group('all', 'all')).toMatchObject({ n: 3, under05: 1 / 3, worstImage: 'b1.jpg' });
    expect(group('all', 'all').iou).toBeCloseTo(mean(rows.map((r) => r.iou)), 10);
    expect(groups.map((g) => `${g.set}/${g.subject}`)).toEqual(['setA/all', 'setA/cat', 'setA/dog', 'setB/all', 'setB/cat', 'all/all']);

    // The table prints those figures; the JSON holds the same groups.
    const overall = printed.split('\n').find((line) => line.startsWith('all '))!;
    expect(overall).toMatch(new RegExp(`^all\\s+all\\s+3\\s+${group('all', 'all').iou.toFixed(4)}\\s+${group('all', 'all').boundaryF.toFixed(4)}\\s+\\S+\\s+33\\.3%`));
    const json = JSON.parse(await readFile(join(dir, 'out', 'eval.json'), 'utf8')) as { groups: unknown[]; rows: EvalRow[] };
    expect(json.groups).toEqual(JSON.parse(JSON.stringify(groups)));
    expect(json.rows.map((r) => r.image)).toEqual(['a1.jpg', 'a2.jpg', 'b1.jpg']);

    // The CSV keeps the single-set columns first and adds the set.
    const [header, ...lines] = (await readFile(join(dir, 'out', 'eval.csv'), 'utf8')).trim().split('\n');
    expect(header).toMatch(/^image,subject,iou,boundary_f,mae,ms,confidence,zoomed,set,/);
    expect(lines.map((l) => [l.split(',')[0], l.split(',')[8]])).toEqual([['a1.jpg', 'setA'], ['a2.jpg', 'setA'], ['b1.jpg', 'setB']]);

    // The sheet: the 2 worst, worst first, as rows of the expected size.
    expect(sheetRows.map((r) => r.image.split('/').pop())).toEqual(['b1.jpg', [...setA].sort((a, b) => a.iou - b.iou)[0]!.image.split('/').pop()]);
    const { data, info } = await sharp(sheetFile).raw().toBuffer({ resolveWithObject: true });
    expect(info.format).toBe('raw');
    expect({ width: info.width, height: info.height }).toEqual(sheetSize(2));
    // Row 1 (b1): in the truth cell (column 2) the right-hand disc is white and the left one black;
    // in the error map (column 4) the cut-out's disc on the left is red (kept but not in the truth).
    const pixel = (column: number, x: number, y: number): number[] => {
      const size = sheetSize(2);
      const rowTop = 28 + 22; // header, caption
      const cellLeft = 8 + column * (SHEET_CELL + 8);
      const cellTop = rowTop + Math.floor((SHEET_CELL - 180) / 2);
      const at = ((cellTop + y) * size.width + cellLeft + Math.floor((SHEET_CELL - 240) / 2) + x) * 3;
      return [data[at]!, data[at + 1]!, data[at + 2]!];
    };
    expect(pixel(1, 180, 90).every((v) => v > 200)).toBe(true);
    expect(pixel(1, 70, 90).every((v) => v < 50)).toBe(true);
    const [r, g, b] = pixel(3, 70, 90);
    expect(r).toBeGreaterThan(180);
    expect(g! + b!).toBeLessThan(150);
    const [, , blue] = pixel(3, 180, 90);
    expect(blue).toBeGreaterThan(180);
  }, 120_000);

  it('keeps --manifest FILE and comma-separated lists working, and names bad flags with what is allowed', async () => {
    const a = join(dir, 'setA', 'manifest.tsv');
    const b = join(dir, 'setB', 'manifest.tsv');
    expect((await planEval(flags({ manifest: a }))).sets.map((s) => s.name)).toEqual(['setA']);
    expect((await planEval(flags({ manifest: `${a},${b}` }))).sets.map((s) => s.name)).toEqual(['setA', 'setB']);
    expect((await planEval(flags({ manifest: [a, a] }))).sets.map((s) => s.name)).toEqual(['setA', 'setA-2']);
    expect((await planEval(flags({ manifest: a, only: 'dog' }))).sets[0]!.pairs).toHaveLength(1);
    expect((await planEval(flags({ manifest: a, every: '2' }))).sets[0]!.pairs.map((p) => p.subject)).toEqual(['cat']);
    const usage = async (extra: Partial<EvalFlags>, message: RegExp): Promise<void> => {
      const failure = await planEval(flags(extra)).then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(EvalUsageError);
      expect((failure as Error).message).toMatch(message);
    };
    await usage({ manifest: a, subjects: 'dogs' }, /--subjects "dogs": use one of pets, largest-pet, point, all-salient/);
    await usage({ manifest: a, point: '0.5,0.5' }, /--point needs --subjects point/);
    await usage({ manifest: a, subjects: 'point', point: '2,0' }, /--point "2,0".*0 to 1/);
    await usage({ manifest: a, sheet: 'x.jpg', sheetWorst: '0' }, /--sheet-worst "0": use a whole number from 1 to 200/);
    await usage({ manifest: a, sheet: 'x.png' }, /name it \.jpg/);
    await usage({ manifest: join(dir, 'nowhere.tsv') }, /--manifest .*nowhere\.tsv: no such file/);
    await usage({}, /give --manifest FILE/);
    await usage({ images: dir }, /--images and --masks go together/);
    await usage({ manifest: a, only: 'horse' }, /no image\/mask pairs found with subject containing "horse"/);
    const broken = join(dir, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'manifest.tsv'), 'image\tmask\nimages/gone.jpg\tmasks/gone.png\n');
    await usage({ manifest: join(broken, 'manifest.tsv') }, /2 file\(s\) the sets name are missing: .*gone\.jpg/);
    const people = await planEval(flags({ manifest: a, subjects: 'point', point: '0.25,0.5', people: true }));
    expect(people.segment).toMatchObject({ keep: 'point', point: { x: 0.25, y: 0.5 }, people: true, subject: true });
    expect((await planEval(flags({ manifest: a, raw: true }))).segment).toEqual({ subject: false, refine: false, zoomBelow: 0 });
  });

  it('stops where it is asked to and still writes and summarises what it scored', async () => {
    const plan = await planEval(flags({ manifest: [join(dir, 'setA', 'manifest.tsv'), join(dir, 'setB', 'manifest.tsv')], csv: join(dir, 'stopped.csv') }));
    let asked = 0; // checked before each image: yes from the second on
    const logged: string[] = [];
    let printed = '';
    const { rows } = await runEval(engine, { ...plan, stopped: () => ++asked > 1, progress: false }, (line) => logged.push(line), (text) => { printed += text; });
    expect(rows.map((r) => r.image.split('/').pop())).toEqual(['a1.jpg']);
    expect(logged.join('\n')).toContain('stopped after 1 of 3 images');
    expect((await readFile(join(dir, 'stopped.csv'), 'utf8')).trim().split('\n')).toHaveLength(2);
    expect(printed).toMatch(/^setA\s+all\s+1\s/m);
  }, 60_000);

  it.skipIf(!sharedPresent('eval-animals/manifest.tsv'))('scores a real photo of the animals set', async () => {
    const real = join(dir, 'animals');
    await mkdir(join(real, 'images'), { recursive: true });
    await mkdir(join(real, 'masks'), { recursive: true });
    const line = (await readFile(sharedPath('eval-animals', 'manifest.tsv'), 'utf8')).split('\n').find((l) => l.startsWith('images/voc_horse'))!;
    const [image, mask, subject] = line.split('\t') as [string, string, string];
    await copyFile(sharedPath('eval-animals', image), join(real, image));
    await copyFile(sharedPath('eval-animals', mask), join(real, mask));
    await writeFile(join(real, 'manifest.tsv'), `image\tmask\tsubject\n${image}\t${mask}\t${subject}\n`);
    const plan = await planEval(flags({ manifest: join(real, 'manifest.tsv'), csv: join(real, 'eval.csv') }));
    const { rows } = await runEval(engine, plan, () => {}, () => {});
    expect(rows).toHaveLength(1);
    expect(rows[0]!.subject).toBe('horse');
    // A real horse photo: the cut-out overlaps its mask (whatever the engine keeps, it is not nothing).
    expect(rows[0]!.iou).toBeGreaterThan(0.3);
  }, 60_000);
});
