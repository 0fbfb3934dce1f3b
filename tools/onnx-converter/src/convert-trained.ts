/**
 * The export entry point: a trained model held in memory (what a run folder holds) -> one .onnx.
 * No file I/O here: the run folder is read by its owner, @residuum/train/run-folder (whose
 * readRunFolder result is a TrainedModel as it is), and `residuum export` hands it over.
 */
import { createHash } from 'node:crypto';
import { type ModelCard, RUN_BACKBONE_FILE, type RunBackboneFile, validateModelCard } from '@residuum/scoring';
import { type ConversionResult, convertLayersModel } from './convert.js';
import { ConversionError } from './errors.js';
import { FP16_STORAGE_SCORE_TOLERANCE } from './fp16-storage.js';
import { spliceOnnxModels } from './splice.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

/** A trained TF.js Layers model as the trainer saved it, in memory (the shape of @residuum/train's RunFolder). */
export interface TrainedModel {
  /** The run's model card; embedded in the .onnx metadata. */
  card: ModelCard;
  model: {
    /** tf.io model.json: { modelTopology, weightsManifest } (the weight specs). */
    modelJson: object;
    /** The weight data: every file of the manifest, concatenated in manifest order. */
    weights: Uint8Array;
  };
  /** A head trained behind an ONNX backbone (DFR on ResNet-50): the run's backbone.json. */
  backbone?: RunBackboneFile;
}

export interface ExportOptions {
  /**
   * Float16. A plain model: weights and compute in float16 (the graph interface stays float32). A
   * model spliced behind an ONNX backbone: float16 STORAGE only (weights cast to float32 in the graph,
   * compute float32; onnxruntime's CPU and WASM kernels have no fast fp16 convolution).
   */
  fp16?: boolean;
  /** Append the card's anomaly map as an output (default true); see ConvertOptions.scoringHead. */
  scoringHead?: boolean;
  /** With fp16 on a spliced model: float initializers with fewer elements stay float32 (default 1024; tests use less). */
  fp16MinElements?: number;
  /** The bytes of the backbone file `backbone.onnxPath` (readBackboneOnnx); required when the model has a backbone. */
  backboneOnnx?: Uint8Array;
}

/** Converts a trained model (model JSON + weights + card, and its backbone where it has one). */
export function convertTrainedModel(trained: TrainedModel, options: ExportOptions = {}): ConversionResult {
  if (typeof trained !== 'object' || trained === null || typeof trained.model !== 'object' || trained.model === null) {
    throw new ConversionError('convertTrainedModel: a trained model { card, model: { modelJson, weights } } is required');
  }
  const { modelJson, weights } = trained.model;
  if (!(weights instanceof Uint8Array)) throw new ConversionError('convertTrainedModel: model.weights must be a Uint8Array (the manifest files, concatenated in order)');
  if (trained.backbone) {
    if (!(options.backboneOnnx instanceof Uint8Array)) {
      throw new ConversionError(
        `the model was trained behind the ONNX backbone ${trained.backbone.name} (${trained.backbone.onnxPath}): pass that file's bytes as backboneOnnx (readBackboneOnnx reads them)`,
      );
    }
    return convertWithBackbone(trained, trained.backbone, options.backboneOnnx, options);
  }
  return convertLayersModel({ modelJson, weights, card: trained.card, fp16: options.fp16, scoringHead: options.scoringHead });
}

function convertWithBackbone(head: TrainedModel, file: RunBackboneFile, backboneOnnx: Uint8Array, options: ExportOptions): ConversionResult {
  const sha256 = createHash('sha256').update(backboneOnnx).digest('hex');
  if (sha256 !== file.sha256) {
    throw new ConversionError(
      `${file.onnxPath} (sha256 ${sha256}) is not the backbone this run was trained on (sha256 ${file.sha256}): the file was rebuilt (another converter version) or changed since training, ` +
        'and the head only fits the features of the exact file it was trained on. Restore that file (copy it from the training machine\'s backbone cache) or train again.',
    );
  }
  const card = validateModelCard(head.card);
  const converted = convertLayersModel({ modelJson: head.model.modelJson, weights: head.model.weights, outputNames: card.outputs.map((o) => o.name), scoringHead: false });
  if (JSON.stringify(converted.report.inputNames) !== JSON.stringify(file.taps)) {
    throw new ConversionError(`the head's inputs ${converted.report.inputNames.join(', ')} are not the backbone taps ${file.taps.join(', ')} named in ${RUN_BACKBONE_FILE}`);
  }
  const fp16Storage = options.fp16 === true;
  const spliced = spliceOnnxModels({ backbone: backboneOnnx, head: converted.onnx, card, fp16Storage, fp16MinElements: options.fp16MinElements });
  const { onnx, nodes, initializers } = spliced;
  const embedded = structuredClone(card);
  embedded.producer = { ...embedded.producer, converter: `${CONVERTER_NAME}@${CONVERTER_VERSION}${fp16Storage ? ' (fp16 storage)' : ''}` };
  const storage = spliced.fp16Storage;
  return {
    onnx,
    card: embedded,
    report: {
      ...converted.report,
      nodes,
      initializers,
      inputName: 'input',
      inputNames: ['input'],
      fp16: fp16Storage,
      ...(storage ? { fp16Storage: storage } : {}),
      warnings: [
        ...converted.report.warnings,
        `head spliced behind the ONNX backbone ${file.name} (${file.onnxPath})`,
        ...(storage
          ? [
              `fp16 storage: ${storage.converted} weight tensors stored as float16 and cast to float32 in the graph (compute stays float32); ` +
                `scores differ from float32 by rounding of the weights only (stated tolerance: image scores within ${FP16_STORAGE_SCORE_TOLERANCE * 100} % relative of float32)`,
            ]
          : []),
        ...(storage && storage.outOfRange.length > 0 ? [`fp16 storage: ${storage.outOfRange.join(', ')} kept float32 (values beyond the float16 range)`] : []),
      ],
      scoringHead: { skipped: 'the map is a model output (feature error); the head is spliced behind an ONNX backbone' },
    },
  };
}
