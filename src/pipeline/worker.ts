/**
 * A pipeline worker: decodes, segments, refines and encodes one image at a
 * time, off the main thread, so the service's event loop only routes bytes.
 * Inference goes over a port to the process's single inference worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { isPetcutError } from '../errors.js';
import { renderCutout } from '../image/render.js';
import type { Rendered } from '../image/render.js';
import type { Box } from '../image/subject.js';
import { createInferenceClient } from '../inference/client.js';
import { segmentImage } from '../segment.js';
import type { PipelineInit, PipelineReply, PipelineRequest } from './protocol.js';

const init = workerData as PipelineInit;
const port = parentPort!;
const inference = createInferenceClient(init.port, init.model.inputSize);
// libvips' operation cache keeps recent images alive; every request here is a
// new image, so the cache only costs memory (~100 MB at 12 MP).
sharp.cache(false);

port.on('message', (request: PipelineRequest) => {
  void handle(request).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (error: unknown) => port.postMessage(failure(request.id, error)),
  );
});

async function handle(request: PipelineRequest): Promise<{ reply: PipelineReply; transfer: ArrayBuffer[] }> {
  const input = Buffer.from(request.input.buffer, request.input.byteOffset, request.input.byteLength);
  const started = performance.now();
  const segmentation = await segmentImage(input, inference, init.model, init.maxPixels, request.options);
  if (request.kind === 'segment') {
    const { width, height, alpha, box, confidence, zoomed, times } = segmentation;
    return { reply: { id: request.id, ok: true, kind: 'segment', result: { width, height, alpha, box, confidence, zoomed, times } }, transfer: [alpha.buffer as ArrayBuffer] };
  }
  const encodeStarted = performance.now();
  const rendered = await renderCutout(segmentation, request.options);
  const now = performance.now();
  const data = new Uint8Array(rendered.data.buffer, rendered.data.byteOffset, rendered.data.byteLength);
  const result = {
    ...rendered,
    data: data as Buffer,
    box: boxInOutput(segmentation.box, rendered),
    confidence: segmentation.confidence,
    zoomed: segmentation.zoomed,
    sourceWidth: segmentation.width,
    sourceHeight: segmentation.height,
    times: { ...segmentation.times, encode: now - encodeStarted, total: now - started },
  };
  return { reply: { id: request.id, ok: true, kind: 'cutout', result }, transfer: [] };
}

function failure(id: number, error: unknown): PipelineReply {
  if (isPetcutError(error)) return { id, ok: false, code: error.code, message: error.message };
  // Details of unexpected errors stay here; the caller gets a bare internal error.
  console.error('petcut pipeline error:', error);
  return { id, ok: false, code: 'PETCUT_E_INTERNAL', message: 'Internal error while processing the image.' };
}

/** The foreground box in the output's coordinates (after crop and resize). */
function boxInOutput(box: Box | null, rendered: Rendered): Box | null {
  if (!box) return null;
  const scale = rendered.width / rendered.rect.width;
  return {
    x: Math.round((box.x - rendered.rect.x) * scale),
    y: Math.round((box.y - rendered.rect.y) * scale),
    width: Math.max(1, Math.round(box.width * scale)),
    height: Math.max(1, Math.round(box.height * scale)),
  };
}
