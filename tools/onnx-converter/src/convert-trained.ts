/**
 * The export entry point: a trained model held in memory (what a run folder holds) -> one .onnx.
 * No file I/O here: `residuum export` reads the run folder and hands the contents over, and
 * convertRunDir (run-dir.ts) is the same call behind a thin file-reading wrapper.
 */
import { createHash } from 'node:crypto';
import { type ModelCard, RUN_BACKBONE_FILE, type RunBackboneFile, validateModelCard } from '@residuum/scoring';
import { type ConversionResult, convertLayersModel } from './convert.js';
import { ConversionError } from './errors.js';
import { spliceOnnxModels } from './splice.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

/** A trained TF.js Layers model as the trainer saved it, in memory. */
export interface TrainedModel {
  /** tf.io model.json: { modelTopology, weightsManifest } (the weight specs). */
  modelJson: object;
  /** The weight data: every file of the manifest, concatenated in manifest order. */
  weights: Uint8Array;
  /** The run's model card; embedded in the .onnx metadata. */
  card: ModelCard;
  /**
   * A head trained behind an ONNX backbone (DFR on ResNet-50): the run's backbone.json and the
   * bytes of the backbone file it names. The head is spliced behind the backbone into one model.
   */
  backbone?: { file: RunBackboneFile; onnx: Uint8Array };
}

export interface ExportOptions {
  /** Float16 weights and compute (the graph interface stays float32). */
  fp16?: boolean;
  /** Append the card's anomaly map as an output (default true); see ConvertOptions.scoringHead. */
  scoringHead?: boolean;
}

/** Converts a trained model (model JSON + weights + card, and its backbone where it has one). */
export function convertTrainedModel(model: TrainedModel, options: ExportOptions = {}): ConversionResult {
  if (typeof model !== 'object' || model === null) throw new ConversionError('convertTrainedModel: a trained model { modelJson, weights, card } is required');
  if (!(model.weights instanceof Uint8Array)) throw new ConversionError('convertTrainedModel: weights must be a Uint8Array (the manifest files, concatenated in order)');
  if (model.backbone) return convertWithBackbone(model, model.backbone, options);
  return convertLayersModel({ modelJson: model.modelJson, weights: model.weights, card: model.card, fp16: options.fp16, scoringHead: options.scoringHead });
}

function convertWithBackbone(head: TrainedModel, backbone: { file: RunBackboneFile; onnx: Uint8Array }, options: ExportOptions): ConversionResult {
  const { file } = backbone;
  if (options.fp16) throw new ConversionError('fp16 export of a model spliced behind an ONNX backbone is not supported yet');
  const sha256 = createHash('sha256').update(backbone.onnx).digest('hex');
  if (sha256 !== file.sha256) {
    throw new ConversionError(`${file.onnxPath} (sha256 ${sha256}) is not the backbone this run was trained on (sha256 ${file.sha256})`);
  }
  const card = validateModelCard(head.card);
  const converted = convertLayersModel({ modelJson: head.modelJson, weights: head.weights, outputNames: card.outputs.map((o) => o.name), scoringHead: false });
  if (JSON.stringify(converted.report.inputNames) !== JSON.stringify(file.taps)) {
    throw new ConversionError(`the head's inputs ${converted.report.inputNames.join(', ')} are not the backbone taps ${file.taps.join(', ')} named in ${RUN_BACKBONE_FILE}`);
  }
  const { onnx, nodes, initializers } = spliceOnnxModels({ backbone: backbone.onnx, head: converted.onnx, card });
  const embedded = structuredClone(card);
  embedded.producer = { ...embedded.producer, converter: `${CONVERTER_NAME}@${CONVERTER_VERSION}` };
  return {
    onnx,
    card: embedded,
    report: {
      ...converted.report,
      nodes,
      initializers,
      inputName: 'input',
      inputNames: ['input'],
      warnings: [...converted.report.warnings, `head spliced behind the ONNX backbone ${file.name} (${file.onnxPath})`],
      scoringHead: { skipped: 'the map is a model output (feature error); the head is spliced behind an ONNX backbone' },
    },
  };
}
