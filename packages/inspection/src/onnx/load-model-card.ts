/**
 * ONNX bytes -> validated ModelCard, checked against the graph the file actually holds,
 * so that a runtime fails at load time (with the reason) rather than at the first image.
 */
import type { ModelCard } from '@residuum/scoring';
import { ModelCardError, modelCardFromMetadata } from '@residuum/scoring';
import { readOnnxModelInfo, type OnnxModelInfo, type OnnxValueInfo } from './onnx-model-info.js';

export interface LoadedModelDescription {
  card: ModelCard;
  onnx: OnnxModelInfo;
}

const FLOAT32 = 1;

/**
 * Reads the Residuum model card embedded in an ONNX file and checks it against the graph.
 * Throws OnnxFileError (damaged / not ONNX) or ModelCardError (no card, invalid card, or a
 * card that does not match the graph).
 */
export function loadModelCard(bytes: Uint8Array): ModelCard {
  return describeOnnxModel(bytes).card;
}

/** Like loadModelCard, also returning what the ONNX file declares (versions, inputs, outputs). */
export function describeOnnxModel(bytes: Uint8Array): LoadedModelDescription {
  const onnx = readOnnxModelInfo(bytes);
  if (!Object.keys(onnx.metadata).some((key) => key.startsWith('residuum.'))) {
    throw new ModelCardError(
      [`no residuum.* metadata${onnx.producerName ? ` (producer: ${onnx.producerName})` : ''}`],
      'this ONNX file has no Residuum model card: export it with `residuum export`',
    );
  }
  const card = modelCardFromMetadata(onnx.metadata);
  const problems = checkCardAgainstGraph(card, onnx);
  if (problems.length > 0) {
    throw new ModelCardError(problems, 'the model card does not match the ONNX graph');
  }
  return { card, onnx };
}

/** Every mismatch between the card and the graph's signature (empty when consistent). */
export function checkCardAgainstGraph(card: ModelCard, onnx: OnnxModelInfo): string[] {
  const problems: string[] = [];
  const inputs = new Map(onnx.inputs.map((value) => [value.name, value]));
  const outputs = new Map(onnx.outputs.map((value) => [value.name, value]));
  const [, channels, height, width] = card.input.shape;
  const prep = card.preprocessing;
  if (prep.channels !== channels || prep.height !== height || prep.width !== width) {
    problems.push(
      `preprocessing gives ${prep.channels}x${prep.height}x${prep.width} but input.shape is ${card.input.shape.join('x')}`,
    );
  }
  const graphInput = inputs.get(card.input.name);
  if (!graphInput) {
    problems.push(`the graph has no input '${card.input.name}' (it has: ${[...inputs.keys()].join(', ') || 'none'})`);
  } else {
    problems.push(...checkValue(`input '${card.input.name}'`, graphInput, card.input.shape));
  }
  for (const output of card.outputs) {
    if (output.meaning === 'dropout-mask') continue;
    const graphOutput = outputs.get(output.name);
    if (!graphOutput) {
      problems.push(`the graph has no output '${output.name}' (it has: ${[...outputs.keys()].join(', ') || 'none'})`);
    } else {
      problems.push(...checkValue(`output '${output.name}'`, graphOutput, output.shape));
    }
  }
  const fedByRuntime = new Set([card.input.name]);
  for (const mask of card.mcDropout?.maskInputs ?? []) {
    fedByRuntime.add(mask.name);
    const graphMask = inputs.get(mask.name);
    if (!graphMask) problems.push(`the graph has no MC-Dropout mask input '${mask.name}'`);
    else problems.push(...checkValue(`mask input '${mask.name}'`, graphMask, mask.shape));
  }
  for (const name of inputs.keys()) {
    if (!fedByRuntime.has(name)) problems.push(`the graph needs an input '${name}' that the card does not describe`);
  }
  if (card.score.map.kind === 'model-output' && !card.outputs.some((o) => o.meaning === 'feature-error-map')) {
    problems.push("score.map.kind is 'model-output' but no output has meaning 'feature-error-map'");
  }
  if (card.score.map.kind !== 'model-output' && !card.outputs.some((o) => o.meaning === 'reconstruction')) {
    problems.push(`score.map.kind is '${card.score.map.kind}' but no output has meaning 'reconstruction'`);
  }
  return problems;
}

function checkValue(label: string, value: OnnxValueInfo, expected: ReadonlyArray<number | string>): string[] {
  const problems: string[] = [];
  if (value.elementType !== null && value.elementType !== FLOAT32) {
    problems.push(`${label} has element type ${value.elementType}, expected float32 (1)`);
  }
  if (value.dims === null) return problems; // rank unknown in the graph: onnxruntime checks at run time
  if (value.dims.length !== expected.length) {
    problems.push(`${label} has rank ${value.dims.length} in the graph but ${expected.length} in the card`);
    return problems;
  }
  expected.forEach((cardDim, axis) => {
    const graphDim = value.dims![axis];
    if (typeof cardDim === 'number' && typeof graphDim === 'number' && cardDim !== graphDim) {
      problems.push(`${label} dim ${axis} is ${graphDim} in the graph but ${cardDim} in the card`);
    }
    if (cardDim === 'N' && typeof graphDim === 'number') {
      problems.push(`${label} has a fixed batch dim ${graphDim}; a dynamic batch ('N') is required`);
    }
  });
  return problems;
}
