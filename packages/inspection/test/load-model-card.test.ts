import { ModelCardError } from '@residuum/scoring';
import { describe, expect, it } from 'vitest';
import { OnnxFileError, checkCardAgainstGraph, describeOnnxModel, loadModelCard, readOnnxModelInfo } from '../src/index.js';
import { appendMetadataEntry, readFixture, tinyAeCard } from './helpers.js';

function errorOf(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('loadModelCard', () => {
  it('reads the card of a Residuum ONNX file', () => {
    const card = loadModelCard(readFixture('tiny-ae.onnx'));
    expect(card).toEqual(tinyAeCard());
    const { onnx } = describeOnnxModel(readFixture('tiny-mc-ae.onnx'));
    expect(onnx.inputs.map((input) => input.name)).toEqual(['input', 'mc_mask_0']);
  });

  it('tells the user to export a card-less (foreign) ONNX file with residuum export', () => {
    const error = errorOf(() => loadModelCard(readFixture('foreign.onnx')));
    expect(error).toBeInstanceOf(ModelCardError);
    expect(error.message).toMatch(/this ONNX file has no Residuum model card: export it with `residuum export`/);
    expect(error.message).toMatch(/some-other-exporter/);
  });

  it('lists every mismatch between the card and the graph', () => {
    const error = errorOf(() => loadModelCard(readFixture('tiny-ae-wrong-card.onnx'))) as ModelCardError;
    expect(error).toBeInstanceOf(ModelCardError);
    expect(error.message).toMatch(/does not match the ONNX graph/);
    expect(error.problems.some((p) => /dim 2 is 16 in the graph but 32 in the card/.test(p))).toBe(true);
    expect(error.problems.some((p) => /no output 'recon'/.test(p))).toBe(true);
  });

  it('reports an invalid card JSON as a ModelCardError', () => {
    const bytes = appendMetadataEntry(readFixture('foreign.onnx'), 'residuum.card', '{"schemaVersion": 1, "family": ');
    const error = errorOf(() => loadModelCard(bytes));
    expect(error).toBeInstanceOf(ModelCardError);
    expect(error.message).toMatch(/residuum\.card/);
  });

  it('passes OnnxFileError through for a damaged file', () => {
    const bytes = readFixture('tiny-ae.onnx');
    expect(errorOf(() => loadModelCard(bytes.subarray(0, 500)))).toBeInstanceOf(OnnxFileError);
  });

  it('flags graph inputs the card does not describe, missing mask inputs and a fixed batch', () => {
    const card = tinyAeCard();
    const onnx = readOnnxModelInfo(readFixture('tiny-mc-ae.onnx'));
    expect(checkCardAgainstGraph(card, onnx)).toEqual([
      "the graph needs an input 'mc_mask_0' that the card does not describe",
    ]);
    const withMask = { ...card, mcDropout: { samples: 4, maskInputs: [{ name: 'mc_mask_1', shape: ['N', 4, 16, 16] as Array<number | 'N'>, rate: 0.5 }] } };
    expect(checkCardAgainstGraph(withMask, onnx)).toContain("the graph has no MC-Dropout mask input 'mc_mask_1'");
    const fixedBatch = { ...onnx, inputs: [{ name: 'input', elementType: 1, dims: [4, 1, 16, 16] }] };
    expect(checkCardAgainstGraph(card, fixedBatch).join()).toMatch(/fixed batch dim 4/);
  });
});
