import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const INT32 = 6;
const ATTR_INT = 2;

type Model = OnnxTypes.ModelProto;
type Node = OnnxTypes.INodeProto;
type Tensor = OnnxTypes.ITensorProto;

/** Per-tensor activation ranges from calibration: name -> [min, max] seen on the calibration photos. */
export type ActivationRanges = Readonly<Record<string, readonly [number, number]>>;

export interface QuantizeOptions {
  /** Graph outputs to keep (the rest, and what only they need, is dropped); default: all. */
  readonly outputs?: readonly string[];
  /** Convs left in float: a Conv whose output name starts with one of these stays fp32 (mixed precision). */
  readonly keepFloat?: readonly string[];
}

/** What calibration produces (vendor/models/isnet-int8.ranges.json): the ranges and the rewrite's options. */
export interface Int8Ranges extends QuantizeOptions {
  readonly tensors: ActivationRanges;
}

function attrInt(node: Node, name: string): number | undefined {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute ? Number(attribute.i) : undefined;
}

/**
 * Drops the Casts fp32.ts left as float -> float no-ops (they sit between
 * Conv and what follows and would hide the Conv -> Relu -> Conv chains from
 * the rewrite) and, when asked, the graph outputs nobody fetches.
 */
export function cleanGraph(model: Model, options: QuantizeOptions = {}): void {
  const graph = model.graph!;
  const outputs = new Set((graph.output ?? []).map((o) => o.name!));
  const alias = new Map<string, string>();
  // The fp16 converter appended some Casts after their consumers (ORT sorts the graph itself): alias first, then rewire.
  const isNoOp = (node: Node): boolean => node.opType === 'Cast' && attrInt(node, 'to') === FLOAT && !outputs.has(node.output![0]!);
  for (const node of graph.node ?? []) if (isNoOp(node)) alias.set(node.output![0]!, node.input![0]!);
  const resolve = (name: string): string => {
    let target = name;
    while (alias.has(target)) target = alias.get(target)!;
    return target;
  };
  graph.node = (graph.node ?? []).filter((node) => !isNoOp(node));
  for (const node of graph.node) node.input = (node.input ?? []).map(resolve);
  topologicalSort(graph);
  if (options.outputs) {
    const wanted = new Set(options.outputs);
    graph.output = (graph.output ?? []).filter((o) => wanted.has(o.name!));
  }
  pruneDeadNodes(model);
}

/** Orders the nodes so each comes after what it reads (the rewrite inserts Q/DQ in node order). */
function topologicalSort(graph: OnnxTypes.IGraphProto): void {
  const ready = new Set<string>(['', ...(graph.input ?? []).map((i) => i.name!), ...(graph.initializer ?? []).map((t) => t.name!)]);
  const pending = [...(graph.node ?? [])];
  const sorted: Node[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const node = pending[i]!;
      if ((node.input ?? []).every((input) => ready.has(input))) {
        sorted.push(node);
        for (const output of node.output ?? []) ready.add(output);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) throw new Error(`quantize: the graph has a cycle or a missing input at node ${pending[0]!.name}`);
  }
  graph.node = sorted;
}

/** Removes nodes and initializers no graph output depends on. */
function pruneDeadNodes(model: Model): void {
  const graph = model.graph!;
  const needed = new Set((graph.output ?? []).map((o) => o.name!));
  const live: Node[] = [];
  for (const node of [...(graph.node ?? [])].reverse()) {
    if (!(node.output ?? []).some((o) => needed.has(o))) continue;
    live.push(node);
    for (const input of node.input ?? []) if (input) needed.add(input);
  }
  graph.node = live.reverse();
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name!));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => needed.has(v.name!));
}

interface ConvPlan {
  readonly conv: Node;
  /** The Relu folded into the Conv's output quantisation (u8 with zero point 0 clamps at 0 exactly like Relu). */
  readonly relu?: Node;
  /** The tensor the quantised output takes the name of: the Relu's output when folded. */
  readonly output: string;
}

/**
 * The Convs to run in int8: every Conv with a weight initializer except those
 * with one output channel (ISNet's side outputs: the logits the mask is
 * thresholded from stay float, and they are a sliver of the work).
 */
function planConvs(model: Model, keepFloat: readonly string[] = []): ConvPlan[] {
  const graph = model.graph!;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const consumers = new Map<string, Node[]>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const outputs = new Set((graph.output ?? []).map((o) => o.name!));
  const plans: ConvPlan[] = [];
  for (const conv of graph.node ?? []) {
    if (conv.opType !== 'Conv') continue;
    const weight = initializers.get(conv.input![1]!);
    if (!weight || Number(weight.dims![0]) === 1 || keepFloat.some((prefix) => conv.output![0]!.startsWith(prefix))) continue;
    const users = consumers.get(conv.output![0]!) ?? [];
    const relu = users.length === 1 && users[0]!.opType === 'Relu' && !outputs.has(conv.output![0]!) ? users[0] : undefined;
    plans.push({ conv, relu, output: relu ? relu.output![0]! : conv.output![0]! });
  }
  return plans;
}

/** The activation tensors that need a range: each int8 Conv's input and (post-Relu) output. */
export function calibrationTensors(fp32: Uint8Array, options: QuantizeOptions = {}): string[] {
  const model = onnx.ModelProto.decode(fp32);
  cleanGraph(model, options);
  return activationNames(planConvs(model, options.keepFloat));
}

function activationNames(plans: readonly ConvPlan[]): string[] {
  const names = new Set<string>();
  for (const plan of plans) {
    names.add(plan.conv.input![0]!);
    names.add(plan.output);
  }
  return [...names].sort();
}

/**
 * The fp32 model with a ReduceMin and a ReduceMax output (`<name>::min`,
 * `<name>::max`, scalars) for each tensor `calibrationTensors` names: one run
 * per photo gives every range without fetching the activations themselves.
 */
export function calibrationModel(fp32: Uint8Array, options: QuantizeOptions = {}): Uint8Array {
  const model = onnx.ModelProto.decode(fp32);
  cleanGraph(model, options);
  const graph = model.graph!;
  for (const name of activationNames(planConvs(model, options.keepFloat))) {
    for (const op of ['Min', 'Max']) {
      const output = `${name}::${op.toLowerCase()}`;
      graph.node!.push(onnx.NodeProto.create({ opType: `Reduce${op}`, input: [name], output: [output], name: output, attribute: [{ name: 'keepdims', type: ATTR_INT, i: 0 }] }));
      graph.output!.push(onnx.ValueInfoProto.create({ name: output, type: { tensorType: { elemType: FLOAT, shape: { dim: [] } } } }));
    }
  }
  return onnx.ModelProto.encode(model).finish();
}

/** The fp32 model with each tensor `calibrationTensors` names as a graph output (for histograms of the values). */
export function activationModel(fp32: Uint8Array, options: QuantizeOptions = {}): Uint8Array {
  const model = onnx.ModelProto.decode(fp32);
  cleanGraph(model, options);
  for (const name of activationNames(planConvs(model, options.keepFloat))) {
    model.graph!.output!.push(onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT } } }));
  }
  return onnx.ModelProto.encode(model).finish();
}

function floats(tensor: Tensor): Float32Array {
  if (tensor.dataType !== FLOAT) throw new Error(`quantize: initializer ${tensor.name} is not float (type ${tensor.dataType})`);
  if (tensor.rawData?.length) {
    const raw = Buffer.from(tensor.rawData);
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  }
  return Float32Array.from(tensor.floatData ?? []);
}

function initializer(name: string, dataType: number, dims: number[], data: ArrayBufferView): Tensor {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}

/** u8 asymmetric scale and zero point over [min, max] widened to include 0 (so 0, Relu's floor and padding, is exact). */
export function activationParams(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale: Math.fround(scale), zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / Math.fround(scale)))) };
}

class Rewriter {
  readonly extra: Tensor[] = [];
  private readonly quantized = new Map<string, string>();
  private dqCount = 0;

  constructor(private readonly ranges: ActivationRanges) {}

  /** Scale and zero-point initializers for a tensor (once), and its Q node's output name. */
  activation(name: string): { scale: number; scaleName: string; zpName: string; qName: string } {
    const range = this.ranges[name];
    if (!range) throw new Error(`quantize: no calibration range for tensor "${name}"`);
    const { scale, zeroPoint } = activationParams(range[0], range[1]);
    const scaleName = `${name}::scale`;
    const zpName = `${name}::zero_point`;
    if (!this.quantized.has(name)) {
      this.extra.push(initializer(scaleName, FLOAT, [], new Float32Array([scale])), initializer(zpName, UINT8, [], new Uint8Array([zeroPoint])));
      this.quantized.set(name, `${name}::q`);
    }
    return { scale, scaleName, zpName, qName: `${name}::q` };
  }

  quantizeNode(from: string, name: string): Node {
    const { scaleName, zpName, qName } = this.activation(name);
    return onnx.NodeProto.create({ opType: 'QuantizeLinear', input: [from, scaleName, zpName], output: [qName], name: qName });
  }

  dequantizeNode(name: string, to?: string): Node {
    const { scaleName, zpName, qName } = this.activation(name);
    const output = to ?? `${name}::dq${this.dqCount++}`;
    return onnx.NodeProto.create({ opType: 'DequantizeLinear', input: [qName, scaleName, zpName], output: [output], name: output });
  }

  /** Weights int8 symmetric per output channel; bias int32 at input scale x weight scale, as ORT's QDQ format has them. */
  weights(conv: Node, weight: Tensor, bias: Tensor | undefined, inputScale: number): Node[] {
    const w = floats(weight);
    const channels = Number(weight.dims![0]);
    const per = w.length / channels;
    const q = new Int8Array(w.length);
    const scales = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      let peak = 0;
      for (let i = c * per; i < (c + 1) * per; i++) peak = Math.max(peak, Math.abs(w[i]!));
      scales[c] = peak > 0 ? peak / 127 : 1;
      for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.round(w[i]! / scales[c]!);
    }
    const wName = weight.name!;
    this.extra.push(initializer(`${wName}::q`, INT8, weight.dims!.map(Number), q), initializer(`${wName}::scale`, FLOAT, [channels], scales), initializer(`${wName}::zero_point`, INT8, [channels], new Int8Array(channels)));
    const nodes = [dq(`${wName}::q`, `${wName}::scale`, `${wName}::zero_point`, `${wName}::dq`)];
    conv.input![1] = `${wName}::dq`;
    if (bias) {
      const b = floats(bias);
      const bScales = scales.map((s) => s * inputScale);
      const bq = Int32Array.from(b, (v, c) => Math.round(v / bScales[c]!));
      const bName = bias.name!;
      this.extra.push(initializer(`${bName}::q`, INT32, [channels], bq), initializer(`${bName}::scale`, FLOAT, [channels], bScales), initializer(`${bName}::zero_point`, INT32, [channels], new Int32Array(channels)));
      nodes.push(dq(`${bName}::q`, `${bName}::scale`, `${bName}::zero_point`, `${bName}::dq`));
      conv.input![2] = `${bName}::dq`;
    }
    return nodes;
  }
}

function dq(q: string, scale: string, zp: string, output: string): Node {
  return onnx.NodeProto.create({ opType: 'DequantizeLinear', input: [q, scale, zp], output: [output], name: output, attribute: [{ name: 'axis', type: ATTR_INT, i: 0 }] });
}

/**
 * Rewrites the fp32 ISNet as a static u8s8 QDQ model (ONNX Runtime's QDQ
 * format): weights int8 symmetric per output channel, activations u8
 * asymmetric from the calibration ranges, a QuantizeLinear -> DequantizeLinear
 * pair on each Conv's input and output, the Relu after a Conv folded into its
 * output's zero point, everything else (pools, resizes, concats, adds, the
 * side outputs and the sigmoid) left in float. ORT fuses each
 * DQ -> Conv -> Q into QLinearConv at graphOptimizationLevel 'all'.
 * Deterministic: same bytes and ranges in, same bytes out.
 */
export function quantizeIsnet(fp32: Uint8Array, ranges: Int8Ranges): Uint8Array {
  const options: QuantizeOptions = ranges;
  const model = onnx.ModelProto.decode(fp32);
  cleanGraph(model, options);
  const graph = model.graph!;
  const plans = planConvs(model, options.keepFloat);
  const byConv = new Map(plans.map((p) => [p.conv, p]));
  const folded = new Set(plans.flatMap((p) => (p.relu ? [p.relu] : [])));
  const convOutputs = new Set(plans.map((p) => p.output));
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const consumers = new Map<string, Node[]>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name!));
  const rewriter = new Rewriter(ranges.tensors);
  const nodes: Node[] = [];
  const emitted = new Set<string>();
  // A tensor that is not an int8 Conv's output gets its Q where it is made (or at the start for graph inputs).
  const quantizeSource = (name: string): void => {
    if (emitted.has(name) || convOutputs.has(name)) return;
    emitted.add(name);
    nodes.push(rewriter.quantizeNode(name, name));
  };
  const convInputs = new Set(plans.map((p) => p.conv.input![0]!));
  for (const input of graph.input ?? []) if (convInputs.has(input.name!)) quantizeSource(input.name!);
  const dropped = new Set<string>();
  for (const node of graph.node ?? []) {
    if (folded.has(node)) continue;
    const plan = byConv.get(node);
    if (plan) {
      const input = node.input![0]!;
      const { scale } = rewriter.activation(input);
      const weight = initializers.get(node.input![1]!)!;
      const bias = node.input![2] ? initializers.get(node.input![2])! : undefined;
      dropped.add(weight.name!);
      if (bias) dropped.add(bias.name!);
      nodes.push(...rewriter.weights(node, weight, bias, scale), rewriter.dequantizeNode(input));
      node.input![0] = nodes[nodes.length - 1]!.output![0]!;
      const preq = `${plan.output}::preq`;
      node.output = [preq];
      nodes.push(node, rewriter.quantizeNode(preq, plan.output));
      const users = consumers.get(plan.output) ?? [];
      if (graphOutputs.has(plan.output) || users.some((u) => !byConv.has(u) || u.input![0] !== plan.output)) nodes.push(rewriter.dequantizeNode(plan.output, plan.output));
      continue;
    }
    nodes.push(node);
    for (const output of node.output ?? []) if (convInputs.has(output)) quantizeSource(output);
  }
  // Each int8 Conv reads its own DQ (made just before it above), so the Q of a Conv output feeding a Conv is its only float link.
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !dropped.has(t.name!)), ...rewriter.extra];
  const live = new Set(nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => live.has(v.name!) && !convOutputs.has(v.name!));
  return onnx.ModelProto.encode(model).finish();
}
