import type sharp from 'sharp';

/**
 * Output formats as data: adding one is one entry here. Everything else
 * reads this table: option parsing and the route schemas (and so the OpenAPI
 * enums and image response types), the first version's `output_format`, the
 * CLI's `--format` choices and quality help, file extensions from content
 * types. The key is the name.
 */
export interface OutputFormat {
  readonly name: string;
  /** How people write it in prose ("WebP"). */
  readonly label: string;
  readonly contentType: string;
  readonly extension: string;
  /** Other names clients may use for it (`jpg`). */
  readonly aliases: readonly string[];
  readonly supportsAlpha: boolean;
  /** Whether `quality` (1-100) changes the encoding (lossy formats). */
  readonly lossy: boolean;
  encode(pipeline: sharp.Sharp, options: { quality: number; pngCompression: number }): sharp.Sharp;
}

export const FORMATS = {
  png: {
    name: 'png',
    label: 'PNG',
    contentType: 'image/png',
    extension: 'png',
    aliases: [],
    supportsAlpha: true,
    lossy: false,
    // zlib level 1 without adaptive filtering by default: a 12 MP cut-out in ~0.2 s
    // against ~0.36 s at level 2 and ~0.5 s at sharp's default 6 (measured), for
    // files ~25 % larger; callers who pay per byte set pngCompression higher.
    encode: (pipeline, { pngCompression }) => pipeline.png({ compressionLevel: pngCompression, adaptiveFiltering: false }),
  },
  webp: {
    name: 'webp',
    label: 'WebP',
    contentType: 'image/webp',
    extension: 'webp',
    aliases: [],
    supportsAlpha: true,
    lossy: true,
    // effort 2: libwebp's default (4) took 1.2 s at 12 MP, effort 2 0.7 s, for the same size.
    encode: (pipeline, { quality }) => pipeline.webp({ quality, alphaQuality: 100, effort: 2 }),
  },
  jpeg: {
    name: 'jpeg',
    label: 'JPEG',
    contentType: 'image/jpeg',
    extension: 'jpg',
    aliases: ['jpg'],
    supportsAlpha: false,
    lossy: true,
    encode: (pipeline, { quality }) => pipeline.jpeg({ quality, mozjpeg: false, chromaSubsampling: quality >= 90 ? '4:4:4' : '4:2:0' }),
  },
} satisfies Record<string, OutputFormat>;

/** A format's name: the table's keys (each entry's `name` equals its key). */
export type FormatName = keyof typeof FORMATS;

export function isFormatName(value: string): value is FormatName {
  return Object.hasOwn(FORMATS, value);
}

/** The formats' names, in table order. */
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

/** Every name a client may send: the names and their aliases. */
export const FORMAT_SPELLINGS: readonly string[] = Object.values(FORMATS).flatMap((format) => [format.name, ...format.aliases]);

/** The format a name or alias stands for, if any. */
export function formatNamed(spelling: string): FormatName | undefined {
  return FORMAT_NAMES.find((name) => name === spelling || (FORMATS[name] as OutputFormat).aliases.includes(spelling));
}

export function formatOfContentType(contentType: string): OutputFormat | undefined {
  return Object.values(FORMATS).find((format) => format.contentType === contentType);
}

/** "WebP and JPEG": the formats `quality` applies to, for help texts and the OpenAPI document. */
export const LOSSY_FORMATS_LABEL = listed(Object.values(FORMATS).filter((format) => format.lossy).map((format) => format.label));

/** One OpenAPI content entry per output format (an image response's `content`). */
export function imageContentTypes<T>(schema: T): Record<string, T> {
  return Object.fromEntries(Object.values(FORMATS).map((format) => [format.contentType, schema]));
}

function listed(names: string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
