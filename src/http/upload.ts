import type { FastifyRequest } from 'fastify';
import { PetcutError } from '../errors.js';
import { checkImageBytes } from '../security/imageCheck.js';
import type { UploadPolicy } from '../security/imageCheck.js';
import type { FileInput } from '../service/jobs.js';

/**
 * Reads the uploaded image(s) and the text fields of a request: multipart
 * (`image`, or several `images`) or the raw body with an image content type.
 * Limits come from the multipart plugin's options (set in app.ts).
 */
export const FILE_FIELDS = new Set(['image', 'images', 'file', 'files', 'image[]', 'images[]']);

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
}

export async function readUpload(request: FastifyRequest, options: UploadOptions): Promise<Upload> {
  if (!request.isMultipart()) {
    const body = request.body;
    if (Buffer.isBuffer(body) && body.length > 0) return { files: [gate({ data: body }, options)], fields: {} };
    throw new PetcutError('PETCUT_E_MISSING_FILE');
  }
  const files: FileInput[] = [];
  const fields: Record<string, string> = {};
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
      const data = await part.toBuffer();
      if (data.length > 0) files.push(gate({ data, name: part.filename?.slice(0, 200) }, options));
    } else {
      if (options.allowedFields && !options.allowedFields.has(part.fieldname)) {
        throw new PetcutError('PETCUT_E_UNKNOWN_FIELD', `Unknown field "${part.fieldname}".`);
      }
      fields[part.fieldname] = typeof part.value === 'string' ? part.value : String(part.value);
    }
  }
  if (files.length === 0) throw new PetcutError('PETCUT_E_MISSING_FILE');
  return { files, fields };
}

function gate(file: FileInput, options: UploadOptions): FileInput {
  try {
    checkImageBytes(file.data, options.policy);
    return file;
  } catch (error) {
    if (options.keepRejected && error instanceof PetcutError) return { ...file, rejected: error };
    throw error;
  }
}

/** Maps the framework's own errors (multipart limits, body limit, aborted uploads) onto our codes. */
export function translateFrameworkError(error: { code?: string; statusCode?: number; message: string }): PetcutError | undefined {
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE', 'The upload is larger than the limit (30 MB by default).');
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new PetcutError('PETCUT_E_BAD_REQUEST', `Too many parts in the form: ${error.message}.`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new PetcutError('PETCUT_E_UNSUPPORTED_MEDIA_TYPE', 'Send the photo as multipart/form-data (field "image") or as a raw image/jpeg, image/png or image/webp body.');
    case 'FST_MP_PREMATURE_CLOSE':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_PROTO_VIOLATION':
      return new PetcutError('PETCUT_E_BAD_REQUEST', error.message);
    case 'FST_ERR_VALIDATION':
      // A session id is checked by the route schema first: keep its own code.
      if (/sessionId|x-session-id|session_id/.test(error.message)) return new PetcutError('PETCUT_E_INVALID_SESSION_ID');
      return new PetcutError('PETCUT_E_INVALID_OPTION', error.message);
    default:
      if (error.statusCode === 413) return new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE');
      if (error.statusCode === 415) return new PetcutError('PETCUT_E_UNSUPPORTED_MEDIA_TYPE');
      if (error.statusCode === 400) return new PetcutError('PETCUT_E_BAD_REQUEST', error.message);
      return undefined;
  }
}
