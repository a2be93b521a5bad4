import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { CutoutOptions, Engine } from '../engine/index.js';
import { parseEffectList, resolveParams } from '../effects/registry.js';
import { invalidOption, isPetcutError } from '../errors.js';
import { FORMAT_SPELLINGS, FORMATS, formatNamed } from '../image/formats.js';
import { expandInputs } from './files.js';
import { writeAtomic } from '../fsDirs.js';
import { makeDirs } from '../fsDirs.js';
import { formatSubjectsLine, parseSelection, segmentOptionsOf } from '../service/selection.js';

export interface RemoveFlags {
  output: string;
  format: string;
  quality?: string;
  pngCompression?: string;
  background?: string;
  crop?: boolean | string;
  mask?: boolean;
  size?: string;
  hint?: string;
  /** pets (default), largest-pet, point, all-salient. */
  subjects?: string;
  /** The tap point as shares "fx,fy" (0..1) of the width and height: implies --subjects point. */
  point?: string;
  /** Keep people (owner-and-pet prints). */
  people?: boolean;
  subject?: boolean;
  refine?: boolean;
  concurrency?: string;
  progress?: boolean;
  effect?: string;
  /** `name=value` pairs for the effect's parameters. */
  effectParam?: string[];
}

export interface RemoveReport { done: number; failed: number; missing: number }

/** Turns CLI flags into engine options; every bad value is a PETCUT_E_INVALID_OPTION naming the flag. */
export async function optionsFromFlags(flags: RemoveFlags): Promise<CutoutOptions> {
  const format = formatNamed(flags.format);
  if (!format) throw invalidOption('format', `must be one of ${FORMAT_SPELLINGS.join(', ')}`);
  const options: { -readonly [K in keyof CutoutOptions]: CutoutOptions[K] } = { format, maskOnly: flags.mask === true };
  if (flags.quality !== undefined) options.quality = Number(flags.quality);
  if (flags.pngCompression !== undefined) options.pngCompression = Number(flags.pngCompression);
  if (flags.background !== undefined) {
    options.background = flags.background.startsWith('#') ? flags.background : await readFile(flags.background).catch(() => {
      throw invalidOption('background', `"${flags.background}" is neither a #hex colour nor a readable image file`);
    });
  }
  if (flags.crop !== undefined && flags.crop !== false) {
    options.crop = true;
    if (typeof flags.crop === 'string') options.cropMargin = Number(flags.crop);
  }
  if (flags.size !== undefined) options.size = flags.size === 'full' || flags.size === 'preview' ? flags.size : Number(flags.size);
  if (flags.hint !== undefined) {
    const [x, y] = flags.hint.split(',').map(Number);
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw invalidOption('hint', `must be "x,y" in image pixels, got "${flags.hint}"`);
    options.hint = { x: x!, y: y! };
  }
  // Pixels (--hint) or shares (--point): a --hint alone picks the point mode as a --point would.
  const selection = parseSelection({ subjects: flags.subjects, point: flags.point, people: flags.people ? 'keep' : undefined });
  Object.assign(options, segmentOptionsOf(flags.hint !== undefined && flags.subjects === undefined && flags.point === undefined ? { ...selection, keep: 'point' } : selection));
  if (flags.effect !== undefined) {
    const [effect] = parseEffectList(flags.effect.split(',')[0]!);
    const given = Object.fromEntries((flags.effectParam ?? []).map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw invalidOption('effect-param', `must be name=value, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }));
    options.effect = effect;
    options.effectParams = resolveParams(effect!, given);
  }
  if (flags.subject === false) options.subject = false;
  if (flags.refine === false) options.refine = false;
  return options;
}

export function outputName(file: string, format: string, mask: boolean, effect?: string): string {
  const stem = basename(file, extname(file));
  const style = effect && effect !== 'color' && !mask ? `.${effect}` : '';
  return `${stem}${mask ? '.mask' : ''}${style}.${FORMATS[format as keyof typeof FORMATS].extension}`;
}

/** Cuts out every file; one failure is reported and the others go on. */
export async function removeBackgrounds(engine: Engine, inputs: string[], flags: RemoveFlags, log: (line: string) => void): Promise<RemoveReport> {
  const options = await optionsFromFlags(flags);
  const { files, missing } = await expandInputs(inputs);
  for (const path of missing) log(`petcut: ${path}: no such file or folder`);
  await makeDirs(flags.output);
  const bar = flags.progress && files.length > 1 ? new SingleBar({ format: '{bar} {value}/{total} {file}', hideCursor: true }, Presets.shades_classic) : undefined;
  bar?.start(files.length, 0, { file: '' });
  let done = 0;
  let failed = 0;
  let next = 0;
  // Two in flight: one image decodes or encodes while the other is in the model.
  const workers = Array.from({ length: Math.max(1, Number(flags.concurrency ?? 2)) }, async () => {
    while (next < files.length) {
      const file = files[next++]!;
      try {
        const result = await engine.cutout(await readFile(file), options);
        await writeAtomic(join(flags.output, outputName(file, result.format, options.maskOnly === true, options.effect)), result.data);
        done++;
        const found = formatSubjectsLine(result);
        if (!bar) log(`${file} -> ${outputName(file, result.format, options.maskOnly === true, options.effect)} (${result.width}x${result.height}, ${Math.round(result.times.total)} ms)${found ? `: ${found}` : ''}`);
        else if (result.petFound === false) bar.update({ file: `${basename(file)}: no pet found` });
      } catch (error) {
        failed++;
        const reason = isPetcutError(error) ? `${error.message} (${error.code})` : `unexpected error: ${(error as Error).message}`;
        // With a bar on the terminal, clear its line first so the message stays readable.
        log(`${bar ? '\r\x1b[K' : ''}petcut: ${file}: ${reason}`);
      }
      bar?.increment(1, { file: basename(file) });
    }
  });
  await Promise.all(workers);
  bar?.stop();
  return { done, failed, missing: missing.length };
}
