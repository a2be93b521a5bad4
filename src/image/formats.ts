import type sharp from 'sharp';

/**
 * Output formats as data: adding one is one entry here. Everything else
 * reads this table: option parsing and the route schemas (and so the OpenAPI
 * enums), the first version's `output_format`, the CLI's `--format` choices,
 * file extensions from content types.
 */
export interface OutputFormat {
  readonly name: 'png' | 'webp' | 'jpeg';
  readonly contentType: string;
  readonly extension: string;
  /** Other names clients may use for it (`jpg`). */
  readonly aliases: readonly string[];
  readonly supportsAlpha: boolean;
  encode(pipeline: sharp.Sharp, options: { quality: number; pngCompression: number }): sharp.Sharp;
}

export const FORMATS: Readonly<Record<OutputFormat['name'], OutputFormat>> = {
  png: {
    name: 'png',
    contentType: 'image/png',
    extension: 'png',
    aliases: [],
    supportsAlpha: true,
    // zlib level 1 without adaptive filtering by default: a 12 MP cut-out in ~0.2 s
    // against ~0.36 s at level 2 and ~0.5 s at sharp's default 6 (measured), for
    // files ~25 % larger; callers who pay per byte set pngCompression higher.
    encode: (pipeline, { pngCompression }) => pipeline.png({ compressionLevel: pngCompression, adaptiveFiltering: false }),
  },
  webp: {
    name: 'webp',
    contentType: 'image/webp',
    extension: 'webp',
    aliases: [],
    supportsAlpha: true,
    // effort 2: libwebp's default (4) took 1.2 s at 12 MP, effort 2 0.7 s, for the same size.
    encode: (pipeline, { quality }) => pipeline.webp({ quality, alphaQuality: 100, effort: 2 }),
  },
  jpeg: {
    name: 'jpeg',
    contentType: 'image/jpeg',
    extension: 'jpg',
    aliases: ['jpg'],
    supportsAlpha: false,
    encode: (pipeline, { quality }) => pipeline.jpeg({ quality, mozjpeg: false, chromaSubsampling: quality >= 90 ? '4:4:4' : '4:2:0' }),
  },
};

export type FormatName = OutputFormat['name'];

export function isFormatName(value: string): value is FormatName {
  return Object.hasOwn(FORMATS, value);
}

/** The formats' names, in table order. */
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

/** Every name a client may send: the names and their aliases. */
export const FORMAT_SPELLINGS: readonly string[] = Object.values(FORMATS).flatMap((format) => [format.name, ...format.aliases]);

/** The format a name or alias stands for, if any. */
export function formatNamed(spelling: string): FormatName | undefined {
  return Object.values(FORMATS).find((format) => format.name === spelling || format.aliases.includes(spelling))?.name;
}

export function formatOfContentType(contentType: string): OutputFormat | undefined {
  return Object.values(FORMATS).find((format) => format.contentType === contentType);
}
