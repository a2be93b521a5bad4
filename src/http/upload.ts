import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { PetcutError } from '../errors.js';
import { checkImageBytes } from '../security/imageCheck.js';
import type { UploadPolicy } from '../security/imageCheck.js';
import type { Reservation } from '../service/capacity.js';
import type { FileInput } from '../service/jobs.js';
import { resolveSession } from './session.js';
import { bodyError, watchUploadPace } from './uploadPace.js';
import type { UploadPace } from './uploadPace.js';

/**
 * Reads the uploaded image(s) and the text fields of a request: multipart
 * (`image`, or several `images`) or the raw body with an image content type.
 * Nothing here reads a byte before the caller has reserved room for it
 * (capacity.reserve): raw bodies are handed over unread by their content
 * type parser (app.ts), multipart parts are pulled one by one. A body that
 * trickles slower than the configured floor is cut off (408), a malformed or
 * cut-off multipart body is a 400, and a job's second, third... file takes a
 * slot of its own before it is read. A `session_id` field is checked with
 * the other places that name a session and sets request.actingSession. Part
 * limits come from the multipart plugin's options (app.ts).
 */
export const FILE_FIELDS = new Set(['image', 'images', 'file', 'files', 'image[]', 'images[]']);
/** The form field that names the shopper's session (the first version's routes send it). */
const SESSION_FIELD = 'session_id';

export interface Upload {
  readonly files: FileInput[];
  readonly fields: Record<string, string>;
}

export interface UploadOptions {
  readonly maxFiles: number;
  readonly allowedFields?: ReadonlySet<string>;
  /** The upload gate (checked on each file's bytes before anything else). */
  readonly policy: UploadPolicy;
  /** Batches (jobs): a refused file is returned with its error instead of failing the request. */
  readonly keepRejected?: boolean;
  /** The room reserved for this request: a job's files beyond the first reserve a slot each as they start; a chunked body's bytes are held as they arrive. */
  readonly reservation?: Reservation;
  /** The slowest an upload may be, and the signal that stops every read at once (shutdown). */
  readonly pace?: UploadPace;
}

export async function readUpload(request: FastifyRequest, options: UploadOptions): Promise<Upload> {
  const watch = watchUploadPace(request, options.pace);
  try {
    return await watch.guard(request.isMultipart() ? readMultipart(request, options) : readRaw(request, options));
  } finally {
    watch.stop();
  }
}

async function readRaw(request: FastifyRequest, options: UploadOptions): Promise<Upload> {
  const body = request.body;
  const data = isStream(body) ? await collect(body, options.policy.maxBytes, (total) => options.reservation?.holdBytes(total)) : Buffer.isBuffer(body) ? body : undefined;
  if (data && data.length > 0) return { files: [gate({ data }, options)], fields: {} };
  throw new PetcutError('PETCUT_E_MISSING_FILE');
}

async function readMultipart(request: FastifyRequest, options: UploadOptions): Promise<Upload> {
  const files: FileInput[] = [];
  const fields: Record<string, string> = {};
  let session: string | undefined;
  // The bytes of earlier files stay buffered: the reservation covers the request's running total.
  let before = 0;
  const hold = (total: number): void => options.reservation?.holdBytes(before + total);
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (!FILE_FIELDS.has(part.fieldname)) {
          part.file.resume();
          throw new PetcutError('PETCUT_E_UNKNOWN_FIELD', `Unknown file field "${part.fieldname}": send the photo as "image".`);
        }
        if (files.length >= options.maxFiles) {
          part.file.resume();
          throw new PetcutError('PETCUT_E_BAD_REQUEST', `Too many files: at most ${options.maxFiles} in one request.`);
        }
        // The first file's slot was reserved before the body; each further one before its bytes are read.
        if (files.length > 0) options.reservation?.addImage();
        const data = await collect(part.file, options.policy.maxBytes, hold);
        before += data.length;
        if (data.length > 0) files.push(gate({ data, name: part.filename?.slice(0, 200) }, options));
      } else if (part.fieldname === SESSION_FIELD) {
        // A fourth place to name the session: checked with the others below (src/http/session.ts).
        session = typeof part.value === 'string' ? part.value : String(part.value);
      } else {
        if (options.allowedFields && !options.allowedFields.has(part.fieldname)) {
          throw new PetcutError('PETCUT_E_UNKNOWN_FIELD', `Unknown field "${part.fieldname}".`);
        }
        fields[part.fieldname] = typeof part.value === 'string' ? part.value : String(part.value);
      }
    }
  } catch (error) {
    throw bodyError(error, options.policy.maxBytes);
  }
  if (session !== undefined) resolveSession(request, session);
  if (files.length === 0) throw new PetcutError('PETCUT_E_MISSING_FILE');
  return { files, fields };
}

/**
 * A stream's bytes, refused past `maxBytes` (multipart's own fileSize limit
 * marks a part truncated); `hold` is told the running total before a chunk is
 * kept, so the buffered bytes never exceed what the reservation holds.
 */
async function collect(stream: Readable & { truncated?: boolean }, maxBytes: number, hold: (total: number) => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    length += (chunk as Buffer).length;
    if (length > maxBytes || stream.truncated) {
      stream.destroy();
      throw tooLarge(maxBytes);
    }
    hold(length);
    chunks.push(chunk as Buffer);
  }
  if (stream.truncated) throw tooLarge(maxBytes);
  return Buffer.concat(chunks, length);
}

function tooLarge(maxBytes: number): PetcutError {
  return new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE', `The upload is larger than the limit of ${Math.round(maxBytes / 1048576)} MB.`);
}

function isStream(body: unknown): body is Readable {
  return typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function' && typeof (body as Readable)[Symbol.asyncIterator] === 'function';
}

function gate(file: FileInput, options: UploadOptions): FileInput {
  try {
    checkImageBytes(file.data, options.policy);
    return file;
  } catch (error) {
    if (options.keepRejected && error instanceof PetcutError) {
      // A refused file of a job gives its slot back at once: it will never reach the engine.
      return { ...file, rejected: error };
    }
    throw error;
  }
}
