import { PetcutError } from '../errors.js';

/**
 * Maps the framework's own errors (schema validation, multipart limits, body
 * limits, router limits) onto our coded table, in our words: no framework
 * code, no echo of the client's URL. Validation errors name the field and
 * what is allowed, as every other option error does.
 */
interface FrameworkError {
  readonly code?: string;
  readonly statusCode?: number;
  readonly message: string;
  /** ajv's errors, for FST_ERR_VALIDATION. */
  readonly validation?: ReadonlyArray<ValidationIssue>;
  readonly validationContext?: string;
}

interface ValidationIssue {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

/** `bodyLimit` (bytes): the route's body limit, so the message says the limit that applied. */
export function translateFrameworkError(error: FrameworkError, bodyLimit?: number): PetcutError | undefined {
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE', bodyLimit ? `The request body is larger than the limit of ${formatBytes(bodyLimit)}.` : undefined);
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new PetcutError('PETCUT_E_BAD_REQUEST', 'Too many parts in the form: send the photo (field "image") and only the option fields.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new PetcutError('PETCUT_E_UNSUPPORTED_MEDIA_TYPE', 'Send the photo as multipart/form-data (field "image") or as a raw image/jpeg, image/png or image/webp body.');
    case 'FST_MP_PREMATURE_CLOSE':
      return new PetcutError('PETCUT_E_BAD_REQUEST', 'The upload ended before the form was complete: send the photo again.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new PetcutError('PETCUT_E_BAD_REQUEST', 'The JSON body is empty or malformed.');
    case 'FST_PROTO_VIOLATION':
      return new PetcutError('PETCUT_E_BAD_REQUEST', 'The form has a field name that is not allowed.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new PetcutError('PETCUT_E_URI_TOO_LONG');
    case 'FST_ERR_BAD_URL':
      return new PetcutError('PETCUT_E_BAD_REQUEST', 'The URL is malformed.');
    case 'FST_ERR_VALIDATION':
      return validationError(error);
    default:
      if (error.statusCode === 413) return new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE');
      if (error.statusCode === 415) return new PetcutError('PETCUT_E_UNSUPPORTED_MEDIA_TYPE');
      if (error.statusCode === 400) return new PetcutError('PETCUT_E_BAD_REQUEST');
      return undefined;
  }
}

const PLACES: Record<string, string> = { querystring: 'option', params: 'path parameter', headers: 'header', body: 'field' };

function validationError(error: FrameworkError): PetcutError {
  const issue = error.validation?.[0];
  const place = PLACES[error.validationContext ?? ''] ?? 'field';
  const field = issue ? fieldOf(issue) : undefined;
  // A session id is checked by the route schema too: keep its own code.
  if (field && /^(sessionId|x-session-id|session_id)$/.test(field)) return new PetcutError('PETCUT_E_INVALID_SESSION_ID');
  if (!issue || !field) return new PetcutError('PETCUT_E_INVALID_OPTION', `Invalid ${place}.`);
  // The code stays PETCUT_E_INVALID_OPTION (as before the message named the field); multipart's unknown fields have their own.
  if (issue.keyword === 'additionalProperties') return new PetcutError('PETCUT_E_INVALID_OPTION', `Unknown ${place} "${field}".`);
  return new PetcutError('PETCUT_E_INVALID_OPTION', `Invalid ${place} "${field}": ${describe(issue)}.`);
}

function fieldOf(issue: ValidationIssue): string | undefined {
  if (issue.keyword === 'additionalProperties') return String(issue.params.additionalProperty ?? '');
  if (issue.keyword === 'required') return String(issue.params.missingProperty ?? '');
  const path = issue.instancePath.replace(/^\//, '').split('/')[0];
  return path || undefined;
}

/** What is allowed, in words (never the client's value echoed back). */
function describe(issue: ValidationIssue): string {
  const p = issue.params;
  switch (issue.keyword) {
    case 'enum': return `use one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'type': return `must be ${String(p.type).replace(',', ' or ')}`;
    case 'minimum': return `must be at least ${String(p.limit)}`;
    case 'maximum': return `must be at most ${String(p.limit)}`;
    case 'minLength': return `must be at least ${String(p.limit)} characters`;
    case 'maxLength': return `must be at most ${String(p.limit)} characters`;
    case 'pattern': return `must match ${String(p.pattern)}`;
    case 'required': return 'is required';
    case 'const': return `must be ${String(p.allowedValue)}`;
    default: return issue.message ?? 'not allowed';
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1048576 ? `${+(bytes / 1048576).toFixed(1)} MB` : `${Math.round(bytes / 1024)} KB`;
}
