import { boxMean, resizePlane } from '../image/planes.js';
import { resizeRgb } from '../image/resample.js';
import type { Box, Point } from '../image/types.js';
import type { Inferencer } from '../inference/client.js';
import { CLASS_MODELS } from '../inference/models.js';
import type { FoundSubject, SubjectMode } from './types.js';

/**
 * Pet finding (issue #18): two small class models tell the pet from what is
 * around it, and ISNet (the cut-out model) still draws the edges.
 *
 * - YOLOX-Nano (COCO) finds boxes: animals, people, furniture.
 * - DeepLabV3 (PASCAL VOC) labels pixels: animal, person, sofa, plant, ...
 *
 * `shapePets` then keeps ISNet's mask inside the chosen animals' boxes, takes
 * out what DeepLab is sure is a person or a piece of furniture (the arms
 * holding the dog), and fills the animal's interior where DeepLab is sure it
 * is animal (a dark cat on a dark cushion comes out solid, not translucent).
 * Where neither model finds an animal the caller keeps the saliency cut-out
 * and says so (`petFound: false`): rabbits, guinea pigs and reptiles, which
 * COCO does not know, get today's cut-out, not a worse one.
 *
 * Everything here works on the work grid (the photo's aspect, ~512 px long side).
 */

const COCO = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant',
  'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack',
  'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove',
  'skateboard', 'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
  'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed', 'dining table', 'toilet',
  'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock',
  'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush'] as const;

/** COCO animals: 14 bird .. 23 giraffe. */
const isAnimal = (cls: number): boolean => cls >= 14 && cls <= 23;
const PERSON = 0;

/**
 * VOC classes: 0 background, 1 aeroplane, 2 bicycle, 3 bird, 4 boat, 5 bottle, 6 bus, 7 car, 8 cat, 9 chair,
 * 10 cow, 11 dining table, 12 dog, 13 horse, 14 motorbike, 15 person, 16 potted plant, 17 sheep, 18 sofa, 19 train, 20 tv.
 */
const VOC_ANIMALS = [3, 8, 10, 12, 13, 17];
const VOC_PERSON = 15;

export interface PetTuning {
  /** Detector score from which an animal counts (objectness x class). */
  animalScore: number;
  /** Detector score from which an animal box counts on its own; below it DeepLab must agree (mean animal probability in the box). */
  sureScore: number;
  agreeLevel: number;
  /** Detector score from which a person or object is reported (and a person kept with `people`). */
  otherScore: number;
  /** Margin around a kept box, as a share of its longer side: ISNet's fur and tails reach past YOLOX's box. */
  boxMargin: number;
  /** DeepLab animal probability from which a pixel is filled solid (after erosion). */
  fillLevel: number;
  /** Erosion of the solid fill, as a share of the box's longer side: ISNet keeps the edge. */
  fillInset: number;
  /** DeepLab person probability from which a pixel is taken out (unless people are kept). */
  dropLevel: number;
  /** DeepLab probability of a non-animal object (sofa, chair, plant, ...) from which a pixel is taken out. */
  objectDropLevel: number;
  /** A kept animal's box whose mean mask is under this (ISNet missed it) takes DeepLab's animal probability instead. */
  rescueBelow: number;
  /** DeepLab-only animal regions (no box from YOLOX) count from this share of the frame and this mean probability. */
  minSegmenterShare: number;
  segmenterScore: number;
}

export const DEFAULT_PET_TUNING: PetTuning = {
  animalScore: 0.3,
  sureScore: 0.5,
  agreeLevel: 0.25,
  otherScore: 0.4,
  boxMargin: 0.06,
  fillLevel: 0.7,
  fillInset: 0.04,
  dropLevel: 0.5,
  objectDropLevel: 0.9,
  minSegmenterShare: 0.005,
  segmenterScore: 0.75,
  rescueBelow: 0.05,
};

export interface Detection {
  readonly cls: number;
  readonly label: string;
  readonly score: number;
  /** On the work grid. */
  readonly box: Box;
}

/** What the class models say about one photo, on its work grid. */
export interface PetEvidence {
  readonly detections: readonly Detection[];
  /** Per pixel: DeepLab's probability of an animal class, and of a non-animal object (person apart). */
  readonly animal: Float32Array;
  readonly person: Float32Array;
  readonly object: Float32Array;
  readonly ms: number;
}

/** Runs both class models on the work-grid RGB (one after the other in the inference worker). */
export async function findEvidence(runtime: Inferencer, guide: Buffer, width: number, height: number, tuning: PetTuning): Promise<PetEvidence> {
  const started = performance.now();
  const detector = CLASS_MODELS.detector;
  const segmenter = CLASS_MODELS.segmenter;
  const side = detector.dims[2]!;
  const ratio = Math.min(side / width, side / height);
  const [boxed, plain] = await Promise.all([
    resizeRgb(guide, width, height, Math.max(1, Math.round(width * ratio)), Math.max(1, Math.round(height * ratio))),
    resizeRgb(guide, width, height, segmenter.dims[2]!, segmenter.dims[1]!),
  ]);
  const detecting = runtime.inferClass!(detector.name, letterbox(boxed, Math.round(width * ratio), Math.round(height * ratio), side), detector.dims);
  const labelling = runtime.inferClass!(segmenter.name, segmenterTensor(plain), segmenter.dims);
  const [boxes, labels] = await Promise.all([detecting, labelling]);
  const detections = decodeDetections(boxes.output, side, ratio, width, height, tuning);
  const planes = vocPlanes(labels.output, segmenter.dims[2]!, segmenter.dims[1]!, width, height);
  return { detections, ...planes, ms: performance.now() - started };
}

/** YOLOX's input: BGR 0..255, NCHW, the image top-left on 114 grey. */
function letterbox(rgb: Buffer, width: number, height: number, side: number): Float32Array {
  const plane = side * side;
  const tensor = new Float32Array(3 * plane).fill(114);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      const d = y * side + x;
      tensor[d] = rgb[s + 2]!;
      tensor[plane + d] = rgb[s + 1]!;
      tensor[2 * plane + d] = rgb[s]!;
    }
  }
  return tensor;
}

/** DeepLab's input: NHWC RGB scaled to -1..1. */
function segmenterTensor(rgb: Buffer): Float32Array {
  const tensor = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) tensor[i] = rgb[i]! / 127.5 - 1;
  return tensor;
}

/**
 * YOLOX's raw head output [anchors, 85] to boxes on the work grid: per anchor
 * x, y (add the cell, times the stride), log w, log h (exp, times the stride),
 * objectness and 80 class scores (already sigmoids); then per-class NMS.
 */
export function decodeDetections(output: Float32Array, side: number, ratio: number, width: number, height: number, tuning: PetTuning): Detection[] {
  const found: Detection[] = [];
  let anchor = 0;
  for (const stride of [8, 16, 32]) {
    const cells = side / stride;
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++, anchor++) {
        const o = anchor * 85;
        const objectness = output[o + 4]!;
        if (objectness < 0.05) continue;
        let cls = 0;
        let best = 0;
        for (let c = 0; c < 80; c++) {
          const v = output[o + 5 + c]!;
          if (v > best) {
            best = v;
            cls = c;
          }
        }
        const score = objectness * best;
        if (score < Math.min(tuning.animalScore, tuning.otherScore)) continue;
        if (!isAnimal(cls) && score < tuning.otherScore) continue;
        if (isAnimal(cls) && score < tuning.animalScore) continue;
        const cx = (output[o]! + gx) * stride / ratio;
        const cy = (output[o + 1]! + gy) * stride / ratio;
        const w = Math.exp(output[o + 2]!) * stride / ratio;
        const h = Math.exp(output[o + 3]!) * stride / ratio;
        const x0 = Math.max(0, cx - w / 2), y0 = Math.max(0, cy - h / 2);
        const x1 = Math.min(width, cx + w / 2), y1 = Math.min(height, cy + h / 2);
        if (x1 - x0 < 1 || y1 - y0 < 1) continue;
        found.push({ cls, label: COCO[cls]!, score, box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } });
      }
    }
  }
  return suppress(found);
}

/** Non-maximum suppression per class (IoU 0.45); animals of different classes on one pet: the better one (IoU 0.7). */
function suppress(found: Detection[]): Detection[] {
  const sorted = [...found].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    const clash = kept.some((k) => {
      const overlap = iou(k.box, d.box);
      return (k.cls === d.cls && overlap > 0.45) || (isAnimal(k.cls) && isAnimal(d.cls) && overlap > 0.7);
    });
    if (!clash) kept.push(d);
  }
  return kept;
}

function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width), y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** DeepLab's logits [h, w, 21] to three probability planes on the work grid. */
function vocPlanes(logits: Float32Array, side: number, sideY: number, width: number, height: number) {
  const n = side * sideY;
  const animal = new Float32Array(n), person = new Float32Array(n), object = new Float32Array(n);
  const p = new Float64Array(21);
  for (let i = 0; i < n; i++) {
    const o = i * 21;
    let peak = -Infinity;
    for (let c = 0; c < 21; c++) peak = Math.max(peak, logits[o + c]!);
    let sum = 0;
    for (let c = 0; c < 21; c++) sum += (p[c] = Math.exp(logits[o + c]! - peak));
    let a = 0;
    for (const c of VOC_ANIMALS) a += p[c]!;
    const h = p[VOC_PERSON]!;
    animal[i] = a / sum;
    person[i] = h / sum;
    object[i] = (sum - p[0]! - a - h) / sum;
  }
  return {
    animal: resizePlane(animal, side, sideY, width, height),
    person: resizePlane(person, side, sideY, width, height),
    object: resizePlane(object, side, sideY, width, height),
  };
}

/** Animal regions DeepLab sees that YOLOX has no box for (a pet seen from an odd angle), as detections. */
function segmenterAnimals(evidence: PetEvidence, width: number, height: number, tuning: PetTuning): Detection[] {
  const covered = (x: number, y: number) => evidence.detections.some((d) => isAnimal(d.cls) && x >= d.box.x && x < d.box.x + d.box.width && y >= d.box.y && y < d.box.y + d.box.height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1, mass = 0, count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = evidence.animal[y * width + x]!;
      if (v < 0.5 || covered(x, y)) continue;
      count++;
      mass += v;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (count < tuning.minSegmenterShare * width * height) return [];
  return [{ cls: -1, label: 'animal', score: mass / count, box: { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 } }];
}

export interface PetChoice {
  /** The animals (and people, with `people`) to keep, on the work grid; empty: no pet (keep the saliency cut-out). */
  readonly kept: readonly Detection[];
  /** Everything worth reporting (animals first), with whether it is kept. */
  readonly report: readonly { detection: Detection; kept: boolean }[];
}

/** Which detections to keep for a mode; a point selects the smallest animal box under it. */
export function choosePets(evidence: PetEvidence, width: number, height: number, mode: SubjectMode, people: boolean, point: Point | undefined, tuning: PetTuning): PetChoice {
  // A weak box counts only where DeepLab sees an animal in it too (measured: a DAVIS dog taken for a "sheep 0.36"
  // on its shadow emptied the cut-out); weak ones are still reported, as not kept.
  const detected = evidence.detections.filter((d) => isAnimal(d.cls));
  const agreed = detected.filter((d) => d.score >= tuning.sureScore || meanInBox(evidence.animal, width, d.box) >= tuning.agreeLevel);
  // DeepLab's own animal region counts only where it is sure (measured: at 0.6 it took half of a plain disc for an
  // animal and cut the disc in two; at 0.58-0.70 it added rocks and water beside YOLOX's birds and swans).
  const animals = [...agreed, ...segmenterAnimals(evidence, width, height, tuning).filter((d) => d.score >= tuning.segmenterScore)];
  const doubtful = detected.filter((d) => !agreed.includes(d));
  const persons = evidence.detections.filter((d) => d.cls === PERSON);
  const others = evidence.detections.filter((d) => !isAnimal(d.cls) && d.cls !== PERSON);
  let chosen: Detection[] = [];
  if (mode === 'pets') chosen = animals;
  else if (mode === 'largest-pet') chosen = animals.length ? [animals.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a))] : [];
  else if (mode === 'point' && point) {
    const under = animals.filter((d) => point.x >= d.box.x && point.x <= d.box.x + d.box.width && point.y >= d.box.y && point.y <= d.box.y + d.box.height);
    chosen = under.length ? [under.reduce((a, b) => (b.box.width * b.box.height < a.box.width * a.box.height ? b : a))] : [];
  }
  const keptPeople = chosen.length && people ? persons : [];
  const kept = [...chosen, ...keptPeople];
  const report = [...animals, ...doubtful, ...persons, ...others].map((detection) => ({ detection, kept: kept.includes(detection) }));
  return { kept, report };
}

/**
 * ISNet's mask, shaped by the class models: zero outside the kept boxes (with
 * a margin), taken out where DeepLab is sure of a person (unless kept) or an
 * object, filled solid where DeepLab is sure of an animal well inside a kept
 * animal's box.
 */
export function shapePets(mask: Float32Array, width: number, height: number, evidence: PetEvidence, choice: PetChoice, people: boolean, tuning: PetTuning): Float32Array {
  const inside = new Uint8Array(width * height);
  const solid = new Float32Array(width * height);
  // A person is taken out only where both models see one: DeepLab alone calls parts of some sheep "person".
  const personBoxes = new Uint8Array(people ? 0 : width * height);
  if (!people) for (const d of evidence.detections) if (d.cls === PERSON) fillBox(personBoxes, width, height, d.box, 0, 1);
  for (const d of choice.kept) {
    // DeepLab's own region is thresholded pixels, not an object's box: a wider margin.
    const margin = (d.cls < 0 ? 4 : 1) * tuning.boxMargin * Math.max(d.box.width, d.box.height) + 2;
    fillBox(inside, width, height, d.box, margin, 1);
    if (d.cls === PERSON) continue;
    const inset = Math.max(2, Math.round(tuning.fillInset * Math.max(d.box.width, d.box.height)));
    markSolid(solid, evidence.animal, width, height, d.box, inset, tuning.fillLevel);
  }
  const out = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) {
    if (!inside[i]) continue;
    const a = evidence.animal[i]!;
    // A person is taken out from dropLevel; furniture and other objects only when DeepLab is nearly sure
    // (measured: it calls some sheep and birds "object" at 0.5-0.8, and those were lost).
    const person = people || !personBoxes[i] ? 0 : evidence.person[i]!;
    const object = evidence.object[i]! >= tuning.objectDropLevel ? evidence.object[i]! : 0;
    const other = Math.max(person, object);
    const keep = other > tuning.dropLevel && other > a ? Math.max(0, 1 - 2 * (other - a)) : 1;
    out[i] = Math.max(mask[i]! * keep, solid[i]!);
  }
  for (const d of choice.kept) if (d.cls !== PERSON) rescue(out, evidence.animal, width, height, d.box, tuning.rescueBelow);
  return out;
}

/**
 * An animal both class models agree on that ISNet did not see (a bird on a
 * busy branch): where ISNet's mask covers almost none of the box, DeepLab's
 * animal probability stands in for it there.
 */
function rescue(out: Float32Array, animal: Float32Array, width: number, height: number, box: Box, below: number): void {
  const x0 = Math.max(0, Math.floor(box.x)), y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width)), y1 = Math.min(height, Math.ceil(box.y + box.height));
  let mine = 0, theirs = 0, n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++, n++) {
      mine += out[y * width + x]!;
      theirs += animal[y * width + x]!;
    }
  }
  if (n === 0 || mine / n >= below || theirs / n < 2 * below) return;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[y * width + x] = Math.max(out[y * width + x]!, animal[y * width + x]!);
}

/** Mean of a plane over a box (work grid). */
export function meanInBox(plane: Float32Array, width: number, box: Box): number {
  const x0 = Math.floor(box.x), y0 = Math.floor(box.y), x1 = Math.ceil(box.x + box.width), y1 = Math.ceil(box.y + box.height);
  let sum = 0, n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++, n++) sum += plane[y * width + x] ?? 0;
  return n ? sum / n : 0;
}

function fillBox(plane: Uint8Array, width: number, height: number, box: Box, margin: number, value: number): void {
  const x0 = Math.max(0, Math.floor(box.x - margin)), y0 = Math.max(0, Math.floor(box.y - margin));
  const x1 = Math.min(width, Math.ceil(box.x + box.width + margin)), y1 = Math.min(height, Math.ceil(box.y + box.height + margin));
  for (let y = y0; y < y1; y++) plane.fill(value, y * width + x0, y * width + x1);
}

/** Pixels of the box where the animal probability is over `level` everywhere within `inset` (an erosion by a box mean). */
function markSolid(solid: Float32Array, animal: Float32Array, width: number, height: number, box: Box, inset: number, level: number): void {
  const sure = new Float32Array(animal.length);
  for (let i = 0; i < animal.length; i++) sure[i] = animal[i]! >= level ? 1 : 0;
  const mean = boxMean(sure, width, height, inset);
  const x0 = Math.max(0, Math.floor(box.x)), y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width)), y1 = Math.min(height, Math.ceil(box.y + box.height));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * width + x;
      if (mean[i]! > 0.999) solid[i] = 1;
    }
  }
}

/** The report in the source's coordinates (work grid / scale), at most `limit` entries, animals first. */
export function reportSubjects(choice: PetChoice, scale: number, limit = 8): FoundSubject[] {
  return choice.report.slice(0, limit).map(({ detection, kept }) => ({
    label: detection.label,
    score: Math.round(detection.score * 1000) / 1000,
    box: {
      x: Math.round(detection.box.x / scale), y: Math.round(detection.box.y / scale),
      width: Math.round(detection.box.width / scale), height: Math.round(detection.box.height / scale),
    },
    kept,
  }));
}

