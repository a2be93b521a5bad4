import { ACTIVE_ELEMENTS, LONGEST_ELEMENT, SCRIPT_DOCUMENT_TYPES, SCRIPT_SCHEMES } from './activeMarkup.js';

/**
 * Active content in metadata: what a browser, a script host or a server-side
 * interpreter would act on if the file's bytes were read as a page. XMP is
 * XML, so markup as such is allowed; refused are the elements in
 * activeMarkup.ts, `<!doctype`, server-side code (`<?php`, and `<?=`, `<?`
 * or `<%` followed by code up to its closer), an event-handler attribute
 * anywhere after a tag opens, script URLs, and a PDF header; the same in
 * UTF-16. Only metadata is scanned (never compressed pixels), with memchr
 * (Buffer.indexOf) for the few bytes that can start a match.
 */
const LT = 0x3c;
const COLON = 0x3a;
const EQUALS = 0x3d;
const PDF = Buffer.from('%PDF-', 'latin1');
const LT_NUL = Buffer.from([LT, 0]);
/** ASP or JSP code that does anything (`eval request("c")`) is longer than this; `<%=x%>` only shows a value. */
const MIN_ASP_CODE = 8;

/**
 * Candidates ('<', ':' and '=' bytes, 4 bytes of server-side code followed,
 * 64 bytes of UTF-16 compacted) one file's scan may look at, at 15 to 50 ns
 * each. Random data has three per 256 bytes (about 370,000 in 30 MB of
 * metadata: some 20 ms); a file built of them would hold the event loop for
 * seconds, and is refused as suspicious after at most some 50 ms instead.
 */
const MAX_CANDIDATES = 1 << 20;
const DENSE = 'too much markup to scan';

export interface ScanBudget { left: number }

export function scanBudget(): ScanBudget {
  return { left: MAX_CANDIDATES };
}

/**
 * What in a metadata block (a comment, EXIF, XMP, an ICC profile, any chunk
 * that is not pixels) is active content, if anything: the block is
 * `data[start, end)`, so that the many tiny ones cost no copy.
 */
export function findActiveContent(input: Buffer, budget: ScanBudget, start = 0, end = input.length): string | undefined {
  // The shortest match ('<img', '<svg') needs four bytes; most small blocks (PNG's own chunks) have no byte that starts one.
  if (end - start < 4 || (end - start <= SMALL && !hasTrigger(input, start, end))) return undefined;
  const data = start === 0 && end === input.length ? input : input.subarray(start, end);
  const found = scanView(data, budget);
  if (found || !hasUtf16Markup(data, budget)) return found;
  if ((data.length >> 6) > budget.left) return DENSE;
  return scanView(withoutZeros(data, budget), budget)?.concat(' (UTF-16)');
}

function scanView(data: Buffer, budget: ScanBudget): string | undefined {
  if (data.indexOf(PDF) >= 0) return 'a PDF header';
  const lt = data.indexOf(LT);
  return (lt >= 0 ? findTag(data, lt, budget) ?? findHandler(data, lt, budget) : undefined) ?? findScriptUrl(data, budget);
}

/** Blocks this short are first checked in one pass for a byte that can start a match: cheaper than a memchr for each. */
const SMALL = 256;

function hasTrigger(data: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const byte = data[i];
    if (byte === LT || byte === COLON || byte === 0x25) return true;
  }
  return false;
}

/** Elements by name, `<!doctype`, and server-side code. */
function findTag(data: Buffer, first: number, budget: ScanBudget): string | undefined {
  const code = { followedTo: 0 };
  for (let at = first; at >= 0; at = data.indexOf(LT, at + 1)) {
    if (--budget.left < 0) return DENSE;
    const next = data[at + 1];
    if (next === 0x21) {
      if (matchesAt(data, at, '<!doctype')) return '<!doctype';
    } else if (next === 0x3f || next === 0x25) {
      const found = serverCode(data, at, code, budget);
      if (found) return found;
    } else {
      const name = elementAt(data, at + 1);
      if (name !== undefined && ACTIVE_ELEMENTS.has(name)) return `<${name}`;
    }
  }
  return undefined;
}

/** The lower-case tag name at `at` when it is letters only and ends at a tag boundary (HTML: whitespace, '/', '>'). */
function elementAt(data: Buffer, at: number): string | undefined {
  let end = at;
  while (end - at <= LONGEST_ELEMENT && isLetter(data[end])) end++;
  if (end === at || end - at > LONGEST_ELEMENT || !isBoundary(data[end])) return undefined;
  return data.toString('latin1', at, end).toLowerCase();
}

/**
 * `<?php` on sight (five bytes no binary block plausibly holds). The shorter
 * openers (`<?=`, `<?` + whitespace, `<%`) are two or three bytes that
 * compressed data holds often, so they count only when text follows them up
 * to a closer (`?>`, `%>`; after `<%`, at least MIN_ASP_CODE bytes of it):
 * an interpreter runs nothing else, since code that does not parse fails
 * the whole file. Text already followed to its end or first closer is not
 * followed again, so the walk stays linear.
 */
function serverCode(data: Buffer, at: number, code: { followedTo: number }, budget: ScanBudget): string | undefined {
  if (matchesAt(data, at, '<?php') && (at + 5 >= data.length || isSpace(data[at + 5]))) return '<?php';
  const second = data[at + 1];
  const third = data[at + 2];
  const opener = second === 0x25 ? 2 : third === EQUALS ? 3 : isSpace(third) ? 2 : 0;
  if (opener === 0 || at < code.followedTo) return undefined;
  const limit = Math.min(data.length, at + Math.max(0, budget.left) * 4); // a candidate for every 4 bytes followed
  let end = at + opener;
  for (; end < limit; end++) {
    const byte = data[end]!; // printable ASCII and line breaks: what server-side code is written in
    if (byte < 0x20 ? byte !== 0x09 && byte !== 0x0a && byte !== 0x0d : byte > 0x7e) break;
    if (byte === 0x3e && end > at + opener && (data[end - 1] === 0x3f || data[end - 1] === 0x25)) {
      if (second !== 0x25) return third === EQUALS ? '<?=' : '<?';
      if (end - 1 - (at + opener) >= MIN_ASP_CODE) return '<%';
      break;
    }
  }
  budget.left -= (end - at) >> 2;
  if (end === limit && limit < data.length) return DENSE;
  code.followedTo = end;
  return undefined;
}

/**
 * An event-handler attribute (`on` and three or more letters, then `=`,
 * after whitespace, '/' or a quote) anywhere after the block's first tag
 * opens. Quoting is ignored on purpose: a parser that enters the block in
 * another state (inside a quote of an earlier tag) reads any of it as
 * attributes. Each '=' looks back over the bytes since the previous one.
 */
function findHandler(data: Buffer, first: number, budget: ScanBudget): string | undefined {
  let open = first;
  while (open >= 0 && !isLetter(data[open + 1])) {
    if (--budget.left < 0) return DENSE;
    open = data.indexOf(LT, open + 1);
  }
  if (open < 0) return undefined;
  for (let at = data.indexOf(EQUALS, open); at >= 0; at = data.indexOf(EQUALS, at + 1)) {
    if (--budget.left < 0) return DENSE;
    let end = at;
    while (end > open && isSpace(data[end - 1])) end--;
    let start = end;
    while (start > open && end - start <= 40 && isLetter(data[start - 1])) start--;
    if (end - start >= 5 && end - start <= 40 && matchesAt(data, start, 'on') && isAttributeStart(data[start - 1])) {
      return `an event-handler attribute (${data.toString('latin1', start, end).toLowerCase()}=)`;
    }
  }
  return undefined;
}

/** A script scheme before a ':' (javascript:, vbscript:, data: with a document type), with the tabs and newlines a URL parser drops. */
function findScriptUrl(data: Buffer, budget: ScanBudget): string | undefined {
  for (let at = data.indexOf(COLON, 4); at >= 0; at = data.indexOf(COLON, at + 1)) {
    if (--budget.left < 0) return DENSE;
    const last = data[at - 1]! | 0x20; // every scheme here ends in 't' or 'a'; tab, LF and CR are 0x09, 0x0a, 0x0d (0x20 set)
    if (last !== 0x74 && last !== 0x61 && last !== 0x29 && last !== 0x2a && last !== 0x2d) continue;
    const script = SCRIPT_SCHEMES.find((scheme) => endsLooselyAt(data, at, scheme));
    if (script) return `${script}:`;
    if (endsLooselyAt(data, at, 'data') && SCRIPT_DOCUMENT_TYPES.some((type) => matchesLoosely(data, at + 1, type))) return 'data: with a document type';
  }
  return undefined;
}

/** Whether the letters just before `end` spell `needle` (either case), skipping the tabs and newlines a URL parser drops. */
function endsLooselyAt(data: Buffer, end: number, needle: string): boolean {
  let i = needle.length;
  for (let at = end - 1; i > 0; at--) {
    const byte = data[at];
    if (byte === undefined) return false;
    if (byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    if ((byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte) !== needle.charCodeAt(--i)) return false;
  }
  return true;
}

/** '<' as UTF-16 (LE: `< 0 x 0`, BE: `0 < 0 x`) before a character that opens a tag: worth a second, compacted scan. */
function hasUtf16Markup(data: Buffer, budget: ScanBudget): boolean {
  for (let at = data.indexOf(LT_NUL); at >= 0; at = data.indexOf(LT_NUL, at + 1)) {
    if (--budget.left < 0) return true; // the compacted scan then answers DENSE
    const next = data[at + 2];
    if ((isLetter(next) || next === 0x21 || next === 0x3f || next === 0x25) && (data[at + 3] === 0 || data[at - 1] === 0)) return true;
  }
  return false;
}

/** The block without its zero bytes: UTF-16 text of ASCII characters reads as ASCII, in either byte order. */
function withoutZeros(data: Buffer, budget: ScanBudget): Buffer {
  budget.left -= data.length >> 6; // a candidate for every 64 bytes copied
  const out = Buffer.allocUnsafe(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    if (byte !== 0) out[n++] = byte;
  }
  return out.subarray(0, n);
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

/** As matchesAt, after leading whitespace and skipping the tabs and newlines a URL parser drops. */
function matchesLoosely(data: Buffer, at: number, needle: string): boolean {
  while (isSpace(data[at])) at++;
  for (let i = 0; i < needle.length; at++) {
    const byte = data[at];
    if (byte === undefined) return false;
    if (byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    if ((byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte) !== needle.charCodeAt(i++)) return false;
  }
  return true;
}

function isLetter(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a));
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d;
}

/** Where HTML starts an attribute name: after whitespace, '/', or a quoted value's closing quote. */
function isAttributeStart(byte: number | undefined): boolean {
  return isSpace(byte) || byte === 0x2f || byte === 0x22 || byte === 0x27;
}

/** After a tag name: whitespace, `>`, `/`, or the end of the data. */
function isBoundary(byte: number | undefined): boolean {
  return byte === undefined || isSpace(byte) || byte === 0x3e || byte === 0x2f;
}

