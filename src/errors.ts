/**
 * One table of coded errors. Every failure that a caller can cause or act on
 * has a stable code and an HTTP status; anything else is an internal error
 * whose details stay in the log.
 */
export const ERRORS = {
  PETCUT_E_EMPTY_INPUT: { status: 400, message: 'The file is empty.' },
  PETCUT_E_UNSUPPORTED_FORMAT: { status: 415, message: 'Unsupported image format: use JPEG, PNG or WebP.' },
  PETCUT_E_CORRUPT_IMAGE: { status: 422, message: 'The image could not be decoded: the file is damaged or truncated.' },
  PETCUT_E_TOO_MANY_PIXELS: { status: 413, message: 'The image has too many pixels.' },
  PETCUT_E_INVALID_OPTION: { status: 400, message: 'Invalid option.' },
  PETCUT_E_INVALID_CONFIG: { status: 500, message: 'Invalid configuration.' },
  PETCUT_E_MODEL_UNAVAILABLE: { status: 503, message: 'The segmentation model is not available.' },
  PETCUT_E_MODEL_INTEGRITY: { status: 500, message: 'The model weights failed their integrity check.' },
  PETCUT_E_DEVICE_UNAVAILABLE: { status: 500, message: 'The requested execution provider is not available.' },
  PETCUT_E_INTERNAL: { status: 500, message: 'Internal error.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class PetcutError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'PetcutError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

export function isPetcutError(error: unknown): error is PetcutError {
  return error instanceof PetcutError;
}

export function invalidOption(name: string, detail: string): PetcutError {
  return new PetcutError('PETCUT_E_INVALID_OPTION', `Invalid option "${name}": ${detail}`);
}
