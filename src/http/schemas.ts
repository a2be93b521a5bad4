import { ERROR_SCHEMA } from './errors.js';
import { EFFECT_PARAM_PATTERN, OPTION_PROPERTIES, SEGMENT_OPTION_PROPERTIES } from './options.js';

/** Schemas shared by several routes (also what the OpenAPI document shows). */
export { ERROR_SCHEMA };

export const errors = (...codes: number[]): Record<string, unknown> =>
  Object.fromEntries(codes.map((code) => [String(code), { ...ERROR_SCHEMA, description: 'Error with a stable code (PETCUT_E_*).' }]));

export const CUTOUT_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { ...SEGMENT_OPTION_PROPERTIES, ...OPTION_PROPERTIES },
  // Effect parameters: `<effect>.<parameter>` (checked against the effect's declaration).
  patternProperties: { [EFFECT_PARAM_PATTERN]: { type: 'string' } },
} as const;

export const IMAGE_UPLOAD_BODY = {
  required: true,
  description: 'The photo (JPEG, PNG or WebP) as multipart field "image" (option fields allowed beside it) or as the raw body.',
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: { image: { type: 'string', format: 'binary' }, ...SEGMENT_OPTION_PROPERTIES, ...OPTION_PROPERTIES },
      },
    },
    'image/jpeg': { schema: { type: 'string', format: 'binary' } },
    'image/png': { schema: { type: 'string', format: 'binary' } },
    'image/webp': { schema: { type: 'string', format: 'binary' } },
  },
} as const;

export const SESSION_HEADER = {
  type: 'object',
  properties: {
    'x-session-id': { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'Groups a shopper\'s uploads and results.' },
  },
} as const;

export const SESSION_PARAMS = {
  type: 'object',
  required: ['sessionId'],
  properties: { sessionId: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } },
} as const;

const BOX = { type: ['object', 'null'], properties: { x: { type: 'integer' }, y: { type: 'integer' }, width: { type: 'integer' }, height: { type: 'integer' } } } as const;

/** What the class models found, per subject (at most 8, animals first). */
export const SUBJECTS = {
  type: 'array',
  maxItems: 8,
  description: 'What the class models found: the animals, then people and furniture near them; `kept`: in the cut-out. Absent before pet finding ran.',
  items: {
    type: 'object',
    required: ['label', 'score', 'box', 'kept'],
    properties: {
      label: { type: 'string', description: 'COCO class name: cat, dog, bird, ..., person, couch, potted plant.' },
      score: { type: 'number', minimum: 0, maximum: 1 },
      box: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' }, width: { type: 'integer' }, height: { type: 'integer' } }, description: 'In the oriented photo\'s pixels.' },
      kept: { type: 'boolean' },
    },
  },
} as const;

export const PET_FOUND = { type: 'boolean', description: 'false: no animal was found and the saliency cut-out was returned (ask the shopper to check or tap the pet). Absent for subjects=all-salient.' } as const;

export const RESULT = {
  type: 'object',
  required: ['effect', 'format', 'contentType', 'width', 'height', 'bytes', 'url'],
  properties: {
    effect: { type: 'string' },
    format: { type: 'string' },
    contentType: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    bytes: { type: 'integer' },
    url: { type: 'string' },
    imageId: { type: 'string' },
    box: BOX,
  },
} as const;

export const SESSION_IMAGE = {
  type: 'object',
  required: ['id', 'kind', 'contentType', 'size', 'tier', 'createdAt', 'expiresAt', 'url'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['original', 'cutout'] },
    effect: { type: 'string' },
    source: { type: 'string' },
    contentType: { type: 'string' },
    size: { type: 'integer' },
    tier: { type: 'string', enum: ['temporary', 'order_pending', 'order_completed', 'archived'] },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    url: { type: 'string' },
    signedUrl: { type: 'string' },
  },
} as const;

const JOB_FILE = {
  type: 'object',
  required: ['index', 'status'],
  properties: {
    index: { type: 'integer' },
    name: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
    cache: { type: 'string', enum: ['hit', 'cutout', 'miss'] },
    originalUrl: { type: 'string' },
    confidence: { type: 'number' },
    box: BOX,
    petFound: PET_FOUND,
    subjects: SUBJECTS,
    results: { type: 'array', items: RESULT },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;

export const JOB = {
  type: 'object',
  required: ['id', 'status', 'createdAt', 'updatedAt', 'files', 'progress', 'statusUrl', 'eventsUrl'],
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
    sessionId: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    statusUrl: { type: 'string' },
    eventsUrl: { type: 'string' },
    progress: { type: 'object', additionalProperties: true, description: 'The last event (see the events WebSocket).' },
    files: { type: 'array', items: JOB_FILE },
  },
} as const;

export const JOB_PARAMS = {
  type: 'object',
  required: ['jobId'],
  properties: { jobId: { type: 'string', maxLength: 64 } },
} as const;
