/**
 * Signatures of content a browser, a script host or an unzip tool would act
 * on, hidden in an image's metadata or after its end: what makes a polyglot.
 * Only metadata blocks and the trailing region are scanned, never the
 * compressed pixels, so the cost stays at a few memchr passes. Tags must end
 * at a tag boundary, which keeps the odds of a false hit in a 5 MB
 * motion-photo video near 1 in 10,000.
 */
const TAGS = ['<script', '<html', '<?php', '<iframe', '<svg', '<!doctype html'];
const JAVASCRIPT = 'javascript';
const LT = 0x3c;
const COLON = 0x3a;

/** Magic numbers of payloads that do not belong after an image. */
const PAYLOAD_STARTS: ReadonlyArray<readonly [string, string]> = [
  ['PK\x03\x04', 'a ZIP archive'], ['%PDF', 'a PDF document'], ['MZ', 'a Windows program'], ['\x7fELF', 'a Linux program'], ['#!', 'a script'],
];
/** A ZIP's end-of-central-directory record sits in its last 22 + 65,535 bytes; unzip tools look there, whatever comes first. */
const ZIP_EOCD = Buffer.from('PK\x05\x06', 'latin1');
const ZIP_TAIL = 22 + 0xffff;
const PDF = Buffer.from('%PDF-', 'latin1');

/**
 * '<' and ':' bytes one file's scan may look at, at about 70 ns each. Random
 * data has one '<' per 256 bytes (about 120,000 in a 30 MB motion-photo
 * video); a file built of them would hold the event loop for seconds, and is
 * refused as suspicious after some 35 ms instead.
 */
const MAX_CANDIDATES = 1 << 19;
const DENSE = 'too much markup to scan';

export interface ScanBudget { left: number }

export function scanBudget(): ScanBudget {
  return { left: MAX_CANDIDATES };
}

/** The tags to try by the byte after '<' (either case): most '<' cost one table read. */
const TAGS_BY_SECOND: Array<readonly string[] | undefined> = Array.from({ length: 256 }, (_, byte) => {
  const tags = TAGS.filter((t) => t.charCodeAt(1) === (byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte));
  return tags.length > 0 ? tags : undefined;
});

/** Script or markup in a metadata block (a comment, EXIF, XMP or a text chunk): tags and `javascript:` URLs. */
export function findActiveContent(data: Buffer, budget: ScanBudget): string | undefined {
  return findMarkup(data, budget) ?? findScriptUrl(data, budget);
}

/**
 * What the bytes after an image's end carry that makes the file a polyglot:
 * a payload's magic number, a PDF or a ZIP anywhere, or markup (a
 * `javascript:` URL there is inert: nothing renders trailing bytes as a link).
 */
export function findPayload(trailing: Buffer, budget: ScanBudget): string | undefined {
  const text = trailing.toString('latin1', 0, 4);
  const start = PAYLOAD_STARTS.find(([magic]) => text.startsWith(magic));
  if (start) return start[1];
  if (trailing.indexOf(PDF) >= 0) return 'a PDF document';
  if (trailing.indexOf(ZIP_EOCD, Math.max(0, trailing.length - ZIP_TAIL)) >= 0) return 'a ZIP archive';
  return findMarkup(trailing, budget);
}

function findMarkup(data: Buffer, budget: ScanBudget): string | undefined {
  for (let at = data.indexOf(LT); at >= 0; at = data.indexOf(LT, at + 1)) {
    if (--budget.left < 0) return DENSE;
    const tags = TAGS_BY_SECOND[data[at + 1] ?? 0];
    if (!tags) continue;
    for (const tag of tags) if (matchesAt(data, at, tag) && isBoundary(data[at + tag.length])) return tag;
  }
  return undefined;
}

function findScriptUrl(data: Buffer, budget: ScanBudget): string | undefined {
  for (let at = data.indexOf(COLON, JAVASCRIPT.length); at >= 0; at = data.indexOf(COLON, at + 1)) {
    if (--budget.left < 0) return DENSE;
    if (((data[at - 1] ?? 0) | 0x20) === 0x74 && matchesAt(data, at - JAVASCRIPT.length, JAVASCRIPT)) return 'javascript:';
  }
  return undefined;
}

/** Zero or 0xFF filler some cameras write after the end marker: not data. */
export function isPadding(trailing: Buffer): boolean {
  if (trailing.length > 65_536) return false;
  for (const byte of trailing) if (byte !== 0x00 && byte !== 0xff) return false;
  return true;
}

/** ASCII case-insensitive match of a lower-case needle at `at`. */
function matchesAt(data: Buffer, at: number, needle: string): boolean {
  if (at < 0 || at + needle.length > data.length) return false;
  for (let i = 0; i < needle.length; i++) {
    const byte = data[at + i]!;
    const lower = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
    if (lower !== needle.charCodeAt(i)) return false;
  }
  return true;
}

/** After a tag name: whitespace, `>`, `/`, or the end of the data. */
function isBoundary(byte: number | undefined): boolean {
  return byte === undefined || byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d || byte === 0x3e || byte === 0x2f;
}
