import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { activationParams, calibrationModel, calibrationTensors, quantizeIsnet } from '../src/inference/quantize.js';

const { onnx } = onnxProto;
const SIZE = 16;

/** A seeded generator, so the tiny model (and so its int8 bytes) is the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
}

function weight(name: string, dims: number[], next: () => number, gain: number) {
  const count = dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: count }, () => next() * gain);
  return onnx.TensorProto.create({ name, dataType: 1, dims, rawData: new Uint8Array(data.buffer) });
}

const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });

/**
 * ISNet in miniature: a no-op Cast (as fp32.ts leaves them), Conv -> Relu ->
 * MaxPool -> Conv -> Relu, a one-channel side Conv and the sigmoid output.
 */
function tinyModel(): Uint8Array {
  const next = random(7);
  const conv = (input: string, w: string, b: string, output: string, pad: number) =>
    onnx.NodeProto.create({ opType: 'Conv', input: [input, w, b], output: [output], name: output, attribute: [ints('pads', [pad, pad, pad, pad])] });
  const node = (opType: string, input: string, output: string, attribute: object[] = []) => onnx.NodeProto.create({ opType, input: [input], output: [output], name: output, attribute });
  const graph = onnx.GraphProto.create({
    name: 'tiny',
    node: [
      node('Cast', 'input', 'x', [{ name: 'to', type: 2, i: 1 }]),
      conv('x', 'w1', 'b1', 'c1', 1), node('Relu', 'c1', 'r1'),
      node('MaxPool', 'r1', 'p1', [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
      conv('p1', 'w2', 'b2', 'c2', 1), node('Relu', 'c2', 'r2'),
      conv('r2', 'w3', 'b3', 'logits', 0), node('Sigmoid', 'logits', 'output'),
    ],
    initializer: [
      weight('w1', [8, 3, 3, 3], next, 1), weight('b1', [8], next, 0.2),
      weight('w2', [8, 8, 3, 3], next, 0.5), weight('b2', [8], next, 0.2),
      weight('w3', [1, 8, 1, 1], next, 1), weight('b3', [1], next, 0.2),
    ],
    input: [{ name: 'input', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: SIZE }, { dimValue: SIZE }] } } } }],
    output: [{ name: 'output', type: { tensorType: { elemType: 1 } } }],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ version: 15 }], graph })).finish();
}

function inputs(count: number): Float32Array[] {
  const next = random(11);
  return Array.from({ length: count }, () => Float32Array.from({ length: 3 * SIZE * SIZE }, next));
}

async function run(model: Uint8Array, input: Float32Array, options: ort.InferenceSession.SessionOptions = {}): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(Buffer.from(model), { graphOptimizationLevel: 'all', intraOpNumThreads: 1, ...options });
  const result = await session.run({ input: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
  await session.release();
  return result.output!.data as Float32Array;
}

async function calibrate(fp32: Uint8Array): Promise<Record<string, [number, number]>> {
  const names = calibrationTensors(fp32);
  const session = await ort.InferenceSession.create(Buffer.from(calibrationModel(fp32)), { intraOpNumThreads: 1 });
  const ranges: Record<string, [number, number]> = Object.fromEntries(names.map((n) => [n, [Infinity, -Infinity]]));
  for (const input of inputs(4)) {
    const result = await session.run({ input: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
    for (const n of names) ranges[n] = [Math.min(ranges[n]![0], result[`${n}::min`]!.data[0] as number), Math.max(ranges[n]![1], result[`${n}::max`]!.data[0] as number)];
  }
  await session.release();
  return ranges;
}

describe('quantizeIsnet', () => {
  const dir = mkdtemp(join(tmpdir(), 'petcut-quantize-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));

  it('names the int8 Convs\' inputs and post-Relu outputs for calibration, not the one-channel side output', () => {
    expect(calibrationTensors(tinyModel())).toEqual(['input', 'p1', 'r1', 'r2']);
  });

  it('includes 0 in every activation range and clamps the zero point to u8', () => {
    expect(activationParams(0, 2.55)).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
    expect(Math.abs(activationParams(-1, 1).zeroPoint - 127.5)).toBe(0.5);
    expect(activationParams(0.5, 1).zeroPoint).toBe(0);
    expect(activationParams(-2, -1).zeroPoint).toBe(255);
  });

  it('is deterministic, fuses into QLinearConv in ONNX Runtime and computes close to fp32', async () => {
    const fp32 = tinyModel();
    const ranges = await calibrate(fp32);
    const int8 = quantizeIsnet(fp32, { tensors: ranges });
    expect(Buffer.from(quantizeIsnet(fp32, { tensors: ranges })).equals(Buffer.from(int8))).toBe(true);
    const optimized = join(await dir, 'optimized.onnx');
    const [input] = inputs(1);
    const reference = await run(fp32, input!);
    const quantized = await run(int8, input!, { optimizedModelFilePath: optimized });
    const ops = onnx.ModelProto.decode(await readFile(optimized)).graph!.node!.map((n) => n.opType);
    expect(ops.filter((op) => op === 'QLinearConv')).toHaveLength(2);
    expect(ops.filter((op) => /^(Fused)?Conv$/.test(op ?? ''))).toHaveLength(1);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i]! - quantized[i]!));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.03);
  });

  it('names a tensor without a range', () => {
    expect(() => quantizeIsnet(tinyModel(), { tensors: { input: [-0.5, 0.5] } })).toThrow(/no calibration range for tensor "(r1|p1|r2)"/);
  });

  it('leaves the Convs named in keepFloat in fp32', async () => {
    const fp32 = tinyModel();
    const ranges = await calibrate(fp32);
    const optimized = join(await dir, 'mixed.onnx');
    await run(quantizeIsnet(fp32, { tensors: ranges, keepFloat: ['c2'] }), inputs(1)[0]!, { optimizedModelFilePath: optimized });
    const ops = onnx.ModelProto.decode(await readFile(optimized)).graph!.node!.map((n) => n.opType);
    expect(ops.filter((op) => op === 'QLinearConv')).toHaveLength(1);
  });
});
