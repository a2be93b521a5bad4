/**
 * A pipeline worker: decodes, segments, refines and encodes one image at a
 * time, off the main thread, so the service's event loop only routes bytes.
 * Inference goes over a port to the process's single inference worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isPetcutError, PetcutError } from '../../errors.js';
import { renderCutout } from '../../image/render.js';
import { pipelineWarmupPhoto } from '../../image/sample.js';
import { createInferenceClient } from '../../inference/client.js';
import { segmentImage } from '../segment.js';
import { yieldToMainThread } from '../../inference/threads.js';
import type { SegmentOptions } from '../segment.js';
import { applyEffect, boxInOutput, isMasterLike, renderOutputs } from './outputs.js';
import { decodeMaster, disableOperationCache, encodeMaster } from '../../image/master.js';
import type { OutputSpec, PipelineCancel, PipelineInit, PipelineReply, PipelineRequest, ProcessOptions, ProcessSummary, ProgressEvent, RenderRequestOptions } from './protocol.js';

const init = workerData as PipelineInit;
yieldToMainThread();
const port = parentPort!;
const inference = createInferenceClient(init.port, init.model.inputSize, init.classModels);
disableOperationCache();

// Set when the engine closes: the image in hand stops at its next stage, so the
// thread is idle (safe to terminate) within one stage instead of a whole image.
let cancelled = false;

/**
 * A small synthetic image through the whole pipeline, with a made-up model
 * output, while the model loads: the first real photo then meets compiled
 * pixel loops (V8 optimizes a function after it has run a while) and libvips'
 * codecs already set up, instead of paying for both (measured: a 384 x 288
 * photo's first refine took 278 ms, its later ones a few ms). The model's
 * own first run is not touched: only the inference worker can warm that.
 */
async function warmUp(): Promise<void> {
  const size = init.model.inputSize;
  const photo = await pipelineWarmupPhoto();
  // The model's output: a soft disc in the middle of its input grid.
  const plane = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) plane[y * size + x] = Math.hypot(x - size / 2, y - size / 2) < size / 3 ? 0.95 : 0.02;
  const model = { infer: async () => ({ output: plane.slice(), ms: 0 }) };
  const segmentation = await segmentImage(photo, model, init.model, init.maxPixels, { keep: 'all-salient' });
  await renderCutout(await applyEffect(segmentation, 'color', undefined), { format: 'png' });
}
// A failed warm-up costs only the first image's speed.
const warmed = init.warmUp ? warmUp().catch(() => undefined) : Promise.resolve();

port.on('message', (request: PipelineRequest | PipelineCancel) => {
  if (request.kind === 'cancel') {
    cancelled = true;
    return;
  }
  void warmed.then(() => handle(request)).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (error: unknown) => port.postMessage(failure(request.id, error)),
  );
});

type Handled = { reply: PipelineReply; transfer: ArrayBuffer[] };

async function handle(request: PipelineRequest): Promise<Handled> {
  const input = Buffer.from(request.input.buffer, request.input.byteOffset, request.input.byteLength);
  const progress = (event: ProgressEvent): void => {
    if (cancelled) throw new PetcutError('PETCUT_E_SHUTTING_DOWN', 'The engine is closing.');
    port.postMessage({ id: request.id, progress: event } satisfies PipelineReply);
  };
  if (request.kind === 'process') return processImage(request.id, input, request.options as ProcessOptions, progress);
  if (request.kind === 'render') return renderFromMaster(request.id, input, request.options as RenderRequestOptions, progress);
  const started = performance.now();
  const options = request.options as SegmentOptions & OutputSpec;
  const segmentation = await segmentImage(input, inference, init.model, init.maxPixels, options);
  if (request.kind === 'segment') {
    const { width, height, alpha, box, confidence, zoomed, subjects, petFound, times } = segmentation;
    return { reply: { id: request.id, ok: true, kind: 'segment', result: { width, height, alpha, box, confidence, zoomed, subjects, petFound, times } }, transfer: [alpha.buffer as ArrayBuffer] };
  }
  const encodeStarted = performance.now();
  const rendered = await renderCutout(await applyEffect(segmentation, options.effect ?? 'color', options.effectParams), options);
  const transfer: ArrayBuffer[] = [];
  const now = performance.now();
  const result = {
    ...rendered,
    data: owned(rendered.data, transfer) as Buffer,
    box: boxInOutput(segmentation.box, rendered),
    confidence: segmentation.confidence,
    zoomed: segmentation.zoomed,
    subjects: segmentation.subjects,
    petFound: segmentation.petFound,
    sourceWidth: segmentation.width,
    sourceHeight: segmentation.height,
    times: { ...segmentation.times, encode: now - encodeStarted, total: now - started },
  };
  return { reply: { id: request.id, ok: true, kind: 'cutout', result }, transfer };
}

async function processImage(id: number, input: Buffer, options: ProcessOptions, progress: (event: ProgressEvent) => void): Promise<Handled> {
  const started = performance.now();
  progress({ stage: 'decode' });
  const segmentation = await segmentImage(input, inference, init.model, init.maxPixels, options, (stage) => progress({ stage }));
  const encodeStarted = performance.now();
  // A full-size colour PNG output is byte for byte the master: no second encode.
  // Otherwise the master encodes alongside the asked outputs (libvips threads), not after them.
  const plain = options.outputs.findIndex(isMasterLike);
  const [outputs, encoded] = await Promise.all([
    renderOutputs(segmentation, options.outputs, progress),
    options.master && plain < 0 ? encodeMaster(segmentation) : Promise.resolve(undefined),
  ]);
  const master = options.master ? encoded ?? outputs[plain]?.data : undefined;
  const now = performance.now();
  const transfer: ArrayBuffer[] = [];
  const sent = outputs.map((o) => owned(o.data, transfer));
  const result: ProcessSummary = {
    outputs: outputs.map((o, i) => ({ ...o, data: sent[i] as Buffer })),
    // The same bytes as an output are sent once (structured clone keeps shared references).
    master: master === undefined ? undefined : plain >= 0 && master === outputs[plain]!.data ? sent[plain] : owned(master, transfer),
    pixelHash: segmentation.pixelHash,
    box: segmentation.box,
    confidence: segmentation.confidence,
    zoomed: segmentation.zoomed,
    subjects: segmentation.subjects,
    petFound: segmentation.petFound,
    sourceWidth: segmentation.width,
    sourceHeight: segmentation.height,
    times: { ...segmentation.times, encode: now - encodeStarted, total: now - started },
  };
  return { reply: { id, ok: true, kind: 'process', result }, transfer };
}

async function renderFromMaster(id: number, master: Buffer, options: RenderRequestOptions, progress: (event: ProgressEvent) => void): Promise<Handled> {
  const started = performance.now();
  progress({ stage: 'decode' });
  const source = await decodeMaster(master);
  const decoded = performance.now();
  const outputs = await renderOutputs(source, options.outputs, progress);
  const now = performance.now();
  const transfer: ArrayBuffer[] = [];
  const result: ProcessSummary = {
    outputs: outputs.map((o) => ({ ...o, data: owned(o.data, transfer) as Buffer })),
    box: source.box,
    confidence: 1,
    zoomed: false,
    sourceWidth: source.width,
    sourceHeight: source.height,
    times: { decode: decoded - started, inference: 0, refine: 0, encode: now - decoded, total: now - started },
  };
  return { reply: { id, ok: true, kind: 'render', result }, transfer };
}

/**
 * Encoded bytes in an ArrayBuffer of their own, moved (not copied) to the
 * main thread: the copy happens here, so the service's event loop never
 * clones tens of MB. (sharp's Buffers wrap native memory, which cannot be
 * transferred as is.)
 */
function owned(data: Buffer, transfer: ArrayBuffer[]): Uint8Array {
  const copy = new Uint8Array(new ArrayBuffer(data.byteLength));
  copy.set(data);
  transfer.push(copy.buffer);
  return copy;
}

function failure(id: number, error: unknown): PipelineReply {
  if (isPetcutError(error)) return { id, ok: false, code: error.code, message: error.message };
  // Details of unexpected errors stay here; the caller gets a bare internal error.
  console.error('petcut pipeline error:', error);
  return { id, ok: false, code: 'PETCUT_E_INTERNAL', message: 'Internal error while processing the image.' };
}
