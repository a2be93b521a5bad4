import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const FLOAT16 = 10;

/** IEEE half -> float, exactly (every half is representable as a float). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function widenTensor(tensor: OnnxTypes.ITensorProto): void {
  if (tensor.dataType !== FLOAT16) return;
  const raw = tensor.rawData && tensor.rawData.length ? Buffer.from(tensor.rawData) : undefined;
  const count = raw ? raw.length / 2 : (tensor.int32Data?.length ?? 0);
  const floats = new Float32Array(count);
  for (let i = 0; i < count; i++) floats[i] = halfToFloat(raw ? raw.readUInt16LE(i * 2) : tensor.int32Data![i]!);
  tensor.dataType = FLOAT;
  tensor.rawData = new Uint8Array(floats.buffer);
  tensor.int32Data = [];
}

/**
 * Rewrites an fp16 ONNX model as fp32: weights widened exactly, casts to fp16
 * turned into no-ops, declared types updated. ONNX Runtime's CPU provider has
 * no fp16 kernels for most of ISNet and runs it through inserted casts;
 * measured on ISNet: same output (max difference 0.0004, no pixel crossing
 * 0.5), about the same speed, and 350 MB less memory (1030 vs 1381 MB).
 */
export function widenFp16Model(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  graph.initializer?.forEach(widenTensor);
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      if (node.opType === 'Cast' && attribute.name === 'to' && Number(attribute.i) === FLOAT16) attribute.i = FLOAT;
      if (attribute.t) widenTensor(attribute.t);
    }
  }
  for (const value of [...(graph.valueInfo ?? []), ...(graph.input ?? []), ...(graph.output ?? [])]) {
    const tensorType = value.type?.tensorType;
    if (tensorType?.elemType === FLOAT16) tensorType.elemType = FLOAT;
  }
  return onnx.ModelProto.encode(model).finish();
}
