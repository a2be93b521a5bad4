import { decodeImage, decodeModelInput, inspectImage } from '../image/decode.js';
import type { DecodedImage } from '../image/decode.js';
import { alphaBox, finishFullRes } from '../image/fullres.js';
import { dilate, resizePlane } from '../image/planes.js';
import { applyGuided, colourMeans, guidedCoefficients } from '../image/refine.js';
import { resizeRgb, workSize } from '../image/resample.js';
import { fillEnclosed, maskConfidence, selectSubject } from '../image/subject.js';
import type { Box, Planes, Point } from '../image/types.js';
import type { SubjectFacts, SubjectMode } from './types.js';
import type { Inferencer } from '../inference/client.js';
import type { ModelDescription } from '../inference/models.js';
import { toModelTensor, toProbability } from '../inference/tensor.js';
import { pixelHash } from '../image/pixelHash.js';
import { choosePets, DEFAULT_PET_TUNING, findEvidence, meanInBox, reportSubjects, shapePets } from './pets.js';
import type { PetTuning } from './pets.js';

export interface SegmentOptions {
  /** A point on the pet in image coordinates (after EXIF orientation). */
  readonly hint?: Point;
  /** The same as a share of the oriented image's width and height (0..1 each): what a storefront tap gives. Wins over `hint`. */
  readonly point?: Point;
  /** Which subjects to keep (default `pets`; see SUBJECT_MODES). */
  readonly keep?: SubjectMode;
  /** Keep people too (owner-and-pet prints); default false: a person holding a pet is cut away. */
  readonly people?: boolean;
  /** Keep only the main subject (default). Off: every salient region the model found. */
  readonly subject?: boolean;
  /** Re-run the model on the subject's crop when it covers less than this share of the frame (0 disables). */
  readonly zoomBelow?: number;
  /** Edge-aware refinement (default); off: plain bilinear upscale of the model mask. */
  readonly refine?: boolean;
  /** Knobs measured by `petcut eval`; the defaults are the measured best. */
  readonly tuning?: Partial<Tuning>;
  /** Pet finding's knobs (pets.ts), measured the same way. */
  readonly petTuning?: Partial<PetTuning>;
}

export interface Tuning {
  /** Keep other regions with at least this share of the main one's mass. */
  keepRatio: number;
  /** Regions this close to the main one (share of the diagonal) belong to it. */
  nearShare: number;
  /** How the zoomed pass's mask joins the first one inside the crop. */
  zoomMerge: 'replace' | 'mean' | 'max';
  /** Margin around the subject's box for the zoomed pass, as a share of its longer side. */
  zoomMargin: number;
  /** After the zoomed pass, keep the region that overlaps the first pass's subject (not the largest). */
  zoomPrior: boolean;
  fillEnclosed: boolean;
  /** Guided filter: radius as a share of the work grid's long side, and regularisation. */
  guidedRadius: number;
  guidedEps: number;
  /** Long side of the grid the guided filter's coefficients are computed on. */
  guidedSide: number;
}

export const DEFAULT_TUNING: Tuning = {
  keepRatio: 0.5,
  nearShare: 0.03,
  zoomMerge: 'replace',
  zoomMargin: 0.6,
  zoomPrior: true,
  fillEnclosed: true,
  guidedRadius: 0.002,
  guidedEps: 1e-3,
  guidedSide: 512,
};

export interface StageTimes {
  decode: number;
  /** The cut-out model's runs and, with pet finding, the class models' (also given alone as `classes`). */
  inference: number;
  refine: number;
  encode?: number;
  total?: number;
  classes?: number;
  /** The cut-out model's first run alone, as ONNX Runtime's worker timed it (inside `inference`: the rest is waiting, decoding beside it, the grid). */
  model?: number;
}

/**
 * The full-resolution cut-out: the photo's colours (foreground colours
 * estimated at the edges, zero where transparent) and alpha, with what was
 * found (SubjectFacts, with the planes' width and height as the source's).
 */
export interface Segmentation extends Planes, Pick<SubjectFacts, 'box' | 'confidence' | 'zoomed' | 'subjects' | 'petFound'> {
  /** sha256 of the oriented decoded pixels: the cache's content key. */
  readonly pixelHash: string;
  readonly times: StageTimes;
}

// The work grid is about the model's resolution: finer adds cost, not detail,
// since the full-resolution detail comes from the guided filter's last step.
const WORK_SIDE = 512;

type WorkGrid = ReturnType<typeof workSize>;

export async function segmentImage(input: Buffer, runtime: Inferencer, model: ModelDescription, maxPixels: number, options: SegmentOptions = {},
  onStage: (stage: 'segmentation' | 'refine') => void = () => undefined): Promise<Segmentation> {
  const t0 = performance.now();
  const { image, work, guide, mask, decodeMs, modelMs } = await decodeAndPredict(input, runtime, model, maxPixels, onStage);
  // Hashed before refinement rewrites the colours at the edges.
  const hash = pixelHash(image.width, image.height, image.rgb, image.alpha);
  const t1 = performance.now();
  const tuning = { ...DEFAULT_TUNING, ...options.tuning };
  const mode: SubjectMode = options.keep ?? (options.point || options.hint ? 'point' : 'pets');
  const chosen: Chosen = options.subject === false
    ? { mask, zoomed: false, zoomMs: 0 }
    : mode === 'all-salient' || !runtime.inferClass
      ? await chooseSubject(mask, image, work, runtime, model, options, tuning)
      : await choosePet(mask, image, work, guide, runtime, model, options, mode, tuning);
  onStage('refine');
  const confidence = maskConfidence(chosen.mask);
  const alpha = await refineMask(chosen.mask, guide, image.rgb, image.width, image.height, work, options, tuning, image.alpha);
  const t2 = performance.now();
  return {
    width: image.width, height: image.height, rgb: image.rgb, alpha, box: alphaBox(alpha, image.width, image.height, 128),
    confidence, zoomed: chosen.zoomed, pixelHash: hash, subjects: chosen.subjects, petFound: chosen.petFound,
    times: {
      decode: decodeMs, inference: t1 - t0 - decodeMs + chosen.zoomMs, refine: t2 - t1 - chosen.zoomMs, model: modelMs,
      ...(chosen.classMs === undefined ? {} : { classes: chosen.classMs }),
    },
  };
}

/**
 * Starts the model on the shrink-on-load input and runs the full-resolution
 * decode (and the work-grid guide) while the model works.
 */
async function decodeAndPredict(input: Buffer, runtime: Inferencer, model: ModelDescription, maxPixels: number, onStage: (stage: 'segmentation') => void) {
  const started = performance.now();
  const header = await inspectImage(input, { maxPixels });
  const decoding = decodeImage(input, { maxPixels }, header);
  decoding.catch(() => undefined);
  const modelRgb = await decodeModelInput(input, model.inputSize, { maxPixels });
  const decodeMs = performance.now() - started;
  onStage('segmentation');
  const predicting = runtime.infer(toModelTensor(modelRgb, model));
  predicting.catch(() => undefined);
  const image = await decoding;
  const work = workSize(image.width, image.height, WORK_SIDE);
  const guide = await resizeRgb(image.rgb, image.width, image.height, work.width, work.height);
  const predicted = await predicting;
  const mask = toWorkGrid(predicted, model, work.width, work.height);
  return { image, work, guide, mask, decodeMs, modelMs: predicted.ms };
}

interface Chosen {
  readonly mask: Float32Array;
  readonly zoomed: boolean;
  /** Time in model runs after the first (the zoomed pass, the class models). */
  readonly zoomMs: number;
  readonly classMs?: number;
  readonly subjects?: SubjectFacts['subjects'];
  readonly petFound?: boolean;
}

/** The tap point on the work grid: `point` (shares of the image) wins over `hint` (pixels). */
function workHint(options: SegmentOptions, work: WorkGrid): Point | undefined {
  if (options.point) return { x: options.point.x * work.width, y: options.point.y * work.height };
  return options.hint ? { x: options.hint.x * work.scale, y: options.hint.y * work.scale } : undefined;
}

/**
 * Pet finding: the class models choose which animals to keep and shape
 * ISNet's mask to them (pets.ts); with no animal found (or none under the
 * tap), the saliency choice, flagged `petFound: false`.
 */
async function choosePet(mask: Float32Array, image: DecodedImage, work: WorkGrid, guide: Buffer, runtime: Inferencer, model: ModelDescription,
  options: SegmentOptions, mode: SubjectMode, tuning: Tuning): Promise<Chosen> {
  const started = performance.now();
  const petTuning = { ...DEFAULT_PET_TUNING, ...options.petTuning };
  const evidence = await findEvidence(runtime, guide, work.width, work.height, petTuning);
  const classMs = performance.now() - started;
  const people = options.people ?? false;
  const choice = choosePets(evidence, work.width, work.height, mode, people, workHint(options, work), petTuning);
  if (choice.kept.length === 0) {
    const saliency = await chooseSubject(mask, image, work, runtime, model, options, tuning);
    const report = choice.report.map(({ detection }) => ({ detection, kept: meanInBox(saliency.mask, work.width, detection.box) > 0.25 }));
    return { ...saliency, zoomMs: saliency.zoomMs + classMs, classMs, subjects: reportSubjects({ kept: [], report }, work.scale), petFound: false };
  }
  const shape = (plane: Float32Array) => shapePets(plane, work.width, work.height, evidence, choice, people, petTuning);
  const select = (plane: Float32Array, prior?: Float32Array) =>
    selectSubject(shape(plane), work.width, work.height, { keepRatio: PET_KEEP_RATIO, nearShare: tuning.nearShare, prior });
  const first = select(mask);
  const subjects = reportSubjects(choice, work.scale);
  const zoomBelow = options.zoomBelow ?? 0.1;
  if (!first.box || first.box.width * first.box.height >= zoomBelow * work.width * work.height) {
    return { mask: first.mask, zoomed: false, zoomMs: classMs, classMs, subjects, petFound: true };
  }
  const zoomStarted = performance.now();
  const zoomedMask = await zoomIn(runtime, model, image.rgb, image.width, image.height, work, first.box, mask, tuning);
  const zoomMs = performance.now() - zoomStarted + classMs;
  return { mask: select(zoomedMask, tuning.zoomPrior ? first.mask : undefined).mask, zoomed: true, zoomMs, classMs, subjects, petFound: true };
}

// Inside the kept pets' boxes every piece of the pet counts (a tail beyond an arm), specks apart.
const PET_KEEP_RATIO = 0.05;

/** Subject selection, with the zoomed second pass when the subject is small. */
async function chooseSubject(mask: Float32Array, image: DecodedImage, work: WorkGrid, runtime: Inferencer, model: ModelDescription,
  options: SegmentOptions, tuning: Tuning): Promise<Chosen> {
  const hint = workHint(options, work);
  const select = (plane: Float32Array, prior?: Float32Array) =>
    selectSubject(plane, work.width, work.height, { hint, keepRatio: tuning.keepRatio, nearShare: tuning.nearShare, prior });
  const first = select(mask);
  const zoomBelow = options.zoomBelow ?? 0.1;
  if (!first.box || first.box.width * first.box.height >= zoomBelow * work.width * work.height) {
    return { mask: first.mask, zoomed: false, zoomMs: 0 };
  }
  const started = performance.now();
  const zoomedMask = await zoomIn(runtime, model, image.rgb, image.width, image.height, work, first.box, mask, tuning);
  const zoomMs = performance.now() - started;
  return { mask: select(zoomedMask, tuning.zoomPrior ? first.mask : undefined).mask, zoomed: true, zoomMs };
}

async function predict(runtime: Inferencer, model: ModelDescription, modelRgb: Buffer, toWidth: number, toHeight: number): Promise<Float32Array> {
  return toWorkGrid(await runtime.infer(toModelTensor(modelRgb, model)), model, toWidth, toHeight);
}

function toWorkGrid(result: { output: Float32Array }, model: ModelDescription, toWidth: number, toHeight: number): Float32Array {
  return resizePlane(toProbability(result.output, model), model.inputSize, model.inputSize, toWidth, toHeight);
}

/**
 * Small subject: run the model again on its crop (with a margin) so the pet
 * gets the model's full resolution, and paste that mask into the frame's.
 */
async function zoomIn(runtime: Inferencer, model: ModelDescription, rgb: Buffer, width: number, height: number,
  work: WorkGrid, box: Box, mask: Float32Array, tuning: Tuning): Promise<Float32Array> {
  const margin = tuning.zoomMargin * Math.max(box.width, box.height);
  const wx0 = Math.max(0, Math.floor(box.x - margin)), wy0 = Math.max(0, Math.floor(box.y - margin));
  const wx1 = Math.min(work.width, Math.ceil(box.x + box.width + margin)), wy1 = Math.min(work.height, Math.ceil(box.y + box.height + margin));
  const fx = width / work.width, fy = height / work.height;
  const region = {
    x: Math.floor(wx0 * fx), y: Math.floor(wy0 * fy),
    width: Math.max(1, Math.min(width, Math.round(wx1 * fx)) - Math.floor(wx0 * fx)),
    height: Math.max(1, Math.min(height, Math.round(wy1 * fy)) - Math.floor(wy0 * fy)),
  };
  const cropRgb = await resizeRgb(rgb, width, height, model.inputSize, model.inputSize, region);
  const cropMask = await predict(runtime, model, cropRgb, wx1 - wx0, wy1 - wy0);
  const out = new Float32Array(mask.length);
  const cw = wx1 - wx0;
  for (let y = wy0; y < wy1; y++) {
    for (let x = wx0; x < wx1; x++) {
      const i = y * work.width + x;
      const zoomed = cropMask[(y - wy0) * cw + (x - wx0)]!;
      out[i] = tuning.zoomMerge === 'replace' ? zoomed : tuning.zoomMerge === 'max' ? Math.max(zoomed, mask[i]!) : (zoomed + mask[i]!) / 2;
    }
  }
  return out;
}

async function refineMask(selected: Float32Array, workGuide: Buffer, rgb: Buffer, width: number, height: number,
  workGrid: { width: number; height: number }, options: SegmentOptions, tuning: Tuning, inputAlpha?: Buffer) {
  const filled = options.subject === false || !tuning.fillEnclosed ? selected : fillEnclosed(selected, workGrid.width, workGrid.height);
  // The guided filter's cost is ~20 box filters over its grid: a coarser grid
  // than the work grid trades little quality (measured) for a lot of time.
  const grid = workSize(width, height, Math.min(tuning.guidedSide, Math.max(workGrid.width, workGrid.height)));
  const same = grid.width === workGrid.width && grid.height === workGrid.height;
  const solid = same ? filled : resizePlane(filled, workGrid.width, workGrid.height, grid.width, grid.height);
  const guide = same ? workGuide : await resizeRgb(rgb, width, height, grid.width, grid.height);
  const work = grid;
  const long = Math.max(work.width, work.height);
  const radius = Math.max(1, Math.round(long * tuning.guidedRadius));
  const coeff = options.refine === false
    ? identityCoefficients(solid, work.width, work.height)
    : guidedCoefficients(guide, solid, work.width, work.height, radius, tuning.guidedEps);
  const coarse = options.refine === false ? solid : applyGuided(coeff, guide);
  const band = new Uint8Array(coarse.length);
  for (let i = 0; i < coarse.length; i++) band[i] = coarse[i]! > 0.01 && coarse[i]! < 0.99 ? 1 : 0;
  const means = colourMeans(guide, coarse, work.width, work.height, Math.max(2, Math.round(long * 0.01)));
  return finishFullRes(rgb, width, height, { coeff, coarse, band: dilate(band, work.width, work.height, 1), means, inputAlpha });
}

/** Coefficients that make the full-resolution pass a plain bilinear upscale (the raw-model baseline). */
function identityCoefficients(mask: Float32Array, width: number, height: number) {
  const zero = new Float32Array(mask.length);
  return { width, height, ar: zero, ag: zero, ab: zero, b: mask };
}
