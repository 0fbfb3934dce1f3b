/**
 * The frozen, ImageNet-pretrained CNN whose features DFR reconstructs. Pluggable: any TF.js Layers
 * model folder (model.json + weight shards) with the names of the layers to tap and the input
 * normalization it was trained with. The default, MobileNet v1 0.75, ships in the repository
 * (models/backbones/) so that DFR trains offline.
 */
import * as tf from '@tensorflow/tfjs';
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelFromDir } from '../../training/model-io.js';

export interface BackboneSpec {
  /** Folder holding model.json (tf.io layers-model format) and the weight files it lists. */
  dir: string;
  /** Layer names whose outputs are the features (NHWC, any strides; the first must have the finest grid). */
  taps: string[];
  /**
   * The backbone's input normalization, value = (x - mean) / std for x in [0, 1]; it becomes the
   * card's preprocessing mean/std, so the runtimes feed the backbone exactly what it was trained on.
   */
  inputMean: number;
  inputStd: number;
  /** A short name for the card (default: the folder name). */
  name?: string;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');

/** Folder of the MobileNet v1 0.75 (ImageNet) backbone shipped in the repository. */
export const DEFAULT_BACKBONE_DIR = join(REPO_ROOT, 'models', 'backbones', 'mobilenet_v1_0.75_224');

/**
 * MobileNet v1 taps: the last ReLU6 of each resolution stage up to stride 16 (pw_1 /2, pw_3 /4,
 * pw_5 /8, pw_11 /16). One tap per stage because same-stage layers (pw_2/pw_3, pw_4/pw_5) carry nearly
 * the same information; pw_11 is the deepest stride-16 layer, semantic enough for large defects;
 * the stride-32 stage is left out: 7x7 at 224 px is too coarse for local anomalies and the most
 * ImageNet-specific. 720 channels with the 0.75 model (240 with 0.25).
 */
export const MOBILENET_V1_TAPS: readonly string[] = ['conv_pw_1_relu', 'conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu'];

export const DEFAULT_BACKBONE: BackboneSpec = {
  dir: DEFAULT_BACKBONE_DIR,
  taps: [...MOBILENET_V1_TAPS],
  // MobileNet v1 (tfjs-models) expects x / 127.5 - 1 = (x/255 - 0.5) / 0.5.
  inputMean: 0.5,
  inputStd: 0.5,
  name: 'mobilenet_v1_0.75_224',
};

export function checkBackboneSpec(spec: BackboneSpec): void {
  if (spec == null || typeof spec !== 'object') throw new Error('backbone: spec object required');
  if (typeof spec.dir !== 'string' || spec.dir === '') throw new Error('backbone.dir must be a folder path');
  if (!Array.isArray(spec.taps) || spec.taps.length === 0 || !spec.taps.every((t) => typeof t === 'string' && t !== '')) {
    throw new Error(`backbone.taps must be a non-empty list of layer names, got ${JSON.stringify(spec.taps)}`);
  }
  if (new Set(spec.taps).size !== spec.taps.length) throw new Error(`backbone.taps has duplicates: ${spec.taps.join(', ')}`);
  if (!Number.isFinite(spec.inputMean)) throw new Error(`backbone.inputMean must be a finite number, got ${spec.inputMean}`);
  if (!(Number.isFinite(spec.inputStd) && spec.inputStd > 0)) throw new Error(`backbone.inputStd must be a positive number, got ${spec.inputStd}`);
}

/** Loads the backbone model (custom file IOHandler, no tfjs-node) and checks that every tap exists. */
export async function loadBackbone(spec: BackboneSpec): Promise<tf.LayersModel> {
  checkBackboneSpec(spec);
  const modelJson = join(spec.dir, 'model.json');
  try {
    await access(modelJson);
  } catch {
    throw new Error(`backbone: ${modelJson} not found (backbone.dir must hold a TF.js layers model.json and its weight shards)`);
  }
  const model = await loadModelFromDir(spec.dir);
  const names = new Set(model.layers.map((l) => l.name));
  const missing = spec.taps.filter((t) => !names.has(t));
  if (missing.length > 0) {
    model.dispose();
    throw new Error(`backbone ${spec.dir}: no layer named ${missing.join(', ')} (taps must be layer names of the model)`);
  }
  return model;
}

/** A new layer of the same class and config (the registry tf.loadLayersModel itself uses). */
function cloneLayer(layer: tf.layers.Layer): tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()];
  if (entry === undefined) throw new Error(`backbone layer ${layer.name}: class ${layer.getClassName()} is not registered with tf.serialization`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, layer.getConfig()) as tf.layers.Layer;
}

function asList(value: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor[] {
  return Array.isArray(value) ? value : [value];
}

/**
 * Re-applies the backbone's layers, up to the deepest tap, to `input` (any H x W), as fresh frozen
 * layers carrying the pretrained weights. Rebuilding rather than reusing the loaded model lets the
 * input size differ from the model's fixed 224x224 InputLayer and keeps the full DFR graph one flat
 * functional model the converter reads layer by layer.
 */
export function applyBackbone(backbone: tf.LayersModel, input: tf.SymbolicTensor, taps: readonly string[]): tf.SymbolicTensor[] {
  if (backbone.inputs.length !== 1) throw new Error(`backbone must have one input, it has ${backbone.inputs.length}`);
  const mapped = new Map<number, tf.SymbolicTensor>([[backbone.inputs[0].id, input]]);
  const tapOutputs = new Map<string, tf.SymbolicTensor>();
  for (const layer of backbone.layers) {
    if (tapOutputs.size === taps.length) break;
    if (layer.getClassName() === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1) throw new Error(`backbone layer ${layer.name} is shared (${layer.inboundNodes.length} call sites): not supported`);
    const sources = asList(layer.input as tf.SymbolicTensor | tf.SymbolicTensor[]).map((s) => {
      const m = mapped.get(s.id);
      if (m === undefined) throw new Error(`backbone layer ${layer.name}: input ${s.name} was not computed (layers out of topological order?)`);
      return m;
    });
    const fresh = cloneLayer(layer);
    const output = fresh.apply(sources.length === 1 ? sources[0] : sources) as tf.SymbolicTensor | tf.SymbolicTensor[];
    fresh.setWeights(layer.getWeights());
    fresh.trainable = false;
    const originals = asList(layer.output as tf.SymbolicTensor | tf.SymbolicTensor[]);
    asList(output).forEach((o, i) => mapped.set(originals[i].id, o));
    if (taps.includes(layer.name)) tapOutputs.set(layer.name, asList(output)[0]);
  }
  return taps.map((t) => {
    const out = tapOutputs.get(t);
    if (out === undefined) throw new Error(`backbone tap ${t} was not reached`);
    return out;
  });
}
