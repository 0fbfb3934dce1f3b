/**
 * Checkpoints in RUN_DIR/checkpoint: model.json + weights.bin (the weights after the last
 * completed epoch, tf.io format), best-weights.{json,bin} (the best validation weights so far),
 * optimizer.{json,bin} (Adam's iteration count 'iter' and its moments '<weight name>/m' and '/v', the same
 * for the main-thread and the data-parallel engine, so either resumes the other's checkpoint) and
 * state.json (epoch, learning rate, early-stopping counters, history). A checkpoint is written
 * to checkpoint.tmp and swapped in by renames, so an interruption keeps the last good one.
 */
import * as tf from '@tensorflow/tfjs';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ModelSpec } from '../families/autoencoder/spec.js';
import { saveModelToDir } from './model-io.js';
import { RUN_FILES, runPath } from '../run-folder/index.js';
import type { NamedWeight, OptimizerState } from './step-engine.js';

export const CHECKPOINT_DIR = RUN_FILES.checkpoint;

export interface EpochRecord {
  epoch: number;
  loss: number;
  valLoss: number;
  learningRate: number;
  seconds: number;
  images: number;
}

export interface TrainingState {
  version: 1;
  spec: ModelSpec;
  epochsCompleted: number;
  learningRate: number;
  bestValLoss: number;
  bestEpoch: number;
  epochsWithoutImprovement: number;
  epochsSinceLrChange: number;
  history: EpochRecord[];
  hasOptimizerState: boolean;
}

export interface Checkpoint {
  state: TrainingState;
  bestWeights: NamedWeight[];
  currentWeights: NamedWeight[];
  optimizerState: OptimizerState | null;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function writeNamedTensors(dir: string, stem: string, tensors: Array<{ name: string; tensor: tf.Tensor }>): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const bytes = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
  await writeFile(join(dir, `${stem}.bin`), new Uint8Array(bytes));
  await writeFile(join(dir, `${stem}.json`), JSON.stringify(specs));
}

async function readNamedTensors(dir: string, stem: string): Promise<Array<{ name: string; tensor: tf.Tensor }>> {
  const manifest = join(dir, `${stem}.json`);
  const binary = join(dir, `${stem}.bin`);
  let specs: tf.io.WeightsManifestEntry[];
  let bytes: Buffer;
  try {
    specs = JSON.parse(await readFile(manifest, 'utf8')) as tf.io.WeightsManifestEntry[];
    bytes = await readFile(binary);
  } catch (error) {
    throw new Error(`checkpoint file ${stem}.{json,bin} in ${dir} cannot be read: ${(error as Error).message}`);
  }
  const map = decodeCheckedWeights(specs, bytes, manifest, binary);
  return specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}

/** Decodes tf.io weights after checking the manifest and that the binary has exactly its bytes (a truncated file names itself). */
function decodeCheckedWeights(specs: tf.io.WeightsManifestEntry[], bytes: Buffer, manifest: string, binary: string): tf.NamedTensorMap {
  const bytesPerValue: Record<string, number> = { float32: 4, int32: 4 };
  let expected = 0;
  for (const spec of Array.isArray(specs) ? specs : [null]) {
    const width = bytesPerValue[String(spec?.dtype)];
    if (spec === null || typeof spec !== 'object' || typeof spec.name !== 'string' || !Array.isArray(spec.shape) || width === undefined || spec.quantization !== undefined) {
      throw new Error(`checkpoint file ${manifest} is damaged: expected a list of { name, shape, dtype: float32 | int32 } entries`);
    }
    expected += width * spec.shape.reduce((a, b) => a * b, 1);
  }
  if (bytes.byteLength !== expected) {
    const how = bytes.byteLength < expected ? 'truncated' : 'damaged';
    throw new Error(`checkpoint file ${binary} is ${how}: ${bytes.byteLength} bytes, its manifest ${basename(manifest)} needs ${expected}; continue from an intact run folder or train without --resume into a new --out`);
  }
  return tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, specs);
}

const ITERATIONS_SLOT = 'iter';

async function writeOptimizerState(dir: string, state: OptimizerState): Promise<void> {
  const tensors = [
    { name: ITERATIONS_SLOT, tensor: tf.scalar(state.iterations, 'int32') as tf.Tensor },
    ...state.slots.map((slot) => ({ name: slot.name, tensor: tf.tensor(slot.data, slot.shape, 'float32') })),
  ];
  try {
    await writeNamedTensors(dir, 'optimizer', tensors);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
}

/** Reads optimizer.{json,bin}; whether the moments fit the model is checked when an engine imports them. */
async function readOptimizerState(dir: string): Promise<OptimizerState> {
  const list = await readNamedTensors(dir, 'optimizer');
  try {
    const iterations = list.filter((t) => t.name === ITERATIONS_SLOT);
    if (iterations.length !== 1 || iterations[0].tensor.dtype !== 'int32' || iterations[0].tensor.size !== 1) {
      throw new Error(`checkpoint file ${join(dir, 'optimizer.json')} is damaged: it needs exactly one int32 scalar '${ITERATIONS_SLOT}' (Adam's iteration count)`);
    }
    const slots = list
      .filter((t) => t.name !== ITERATIONS_SLOT)
      .map(({ name, tensor }) => {
        if (tensor.dtype !== 'float32') throw new Error(`checkpoint file ${join(dir, 'optimizer.json')} is damaged: moment ${name} is ${tensor.dtype}, not float32`);
        return { name, shape: tensor.shape.slice(), data: new Float32Array(tensor.dataSync()) };
      });
    return { iterations: iterations[0].tensor.dataSync()[0], slots };
  } finally {
    tf.dispose(list.map((t) => t.tensor));
  }
}

function toTensors(weights: readonly NamedWeight[]): Array<{ name: string; tensor: tf.Tensor }> {
  // Names may repeat across layers only if layers share a name, which tf.model forbids; index them anyway.
  return weights.map((w, i) => ({ name: `${i}:${w.name}`, tensor: tf.tensor(w.data, w.shape, 'float32') }));
}

function fromTensors(list: Array<{ name: string; tensor: tf.Tensor }>): NamedWeight[] {
  return list.map(({ name, tensor }) => {
    const weight = { name: name.slice(name.indexOf(':') + 1), shape: tensor.shape.slice(), data: new Float32Array(tensor.dataSync()) };
    tensor.dispose();
    return weight;
  });
}

/** Writes a checkpoint; `model` must already hold `currentWeights` (it provides the topology). */
export async function writeCheckpoint(runDir: string, model: tf.LayersModel, checkpoint: Omit<Checkpoint, 'currentWeights'>): Promise<void> {
  const finalDir = join(runDir, CHECKPOINT_DIR);
  const tmpDir = `${finalDir}.tmp`;
  const oldDir = `${finalDir}.old`;
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });
  await saveModelToDir(model, tmpDir);
  const best = toTensors(checkpoint.bestWeights);
  await writeNamedTensors(tmpDir, 'best-weights', best);
  tf.dispose(best.map((b) => b.tensor));
  if (checkpoint.optimizerState != null) await writeOptimizerState(tmpDir, checkpoint.optimizerState);
  await writeFile(join(tmpDir, 'state.json'), JSON.stringify(checkpoint.state, null, 2));
  await rm(oldDir, { recursive: true, force: true });
  if (await exists(finalDir)) await rename(finalDir, oldDir);
  await rename(tmpDir, finalDir);
  await rm(oldDir, { recursive: true, force: true });
}

/** The checkpoint folder to resume from, or null: `checkpoint`, or `checkpoint.old` if a swap was cut short. */
export async function findCheckpoint(runDir: string): Promise<string | null> {
  for (const name of [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    if (await exists(join(runDir, name, 'state.json'))) return join(runDir, name);
  }
  return null;
}

export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  let state: TrainingState;
  try {
    state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as TrainingState;
  } catch (error) {
    throw new Error(`cannot read checkpoint state ${join(dir, 'state.json')}: ${(error as Error).message}`);
  }
  if (state.version !== 1) throw new Error(`checkpoint ${dir} has state version ${String(state.version)}, this trainer reads version 1`);
  const modelFile = runPath(dir, 'model');
  const weightsFile = runPath(dir, 'weights');
  let specs: tf.io.WeightsManifestEntry[];
  let bytes: Buffer;
  try {
    const modelJson = JSON.parse(await readFile(modelFile, 'utf8')) as { weightsManifest?: Array<{ weights: tf.io.WeightsManifestEntry[] }> };
    if (!Array.isArray(modelJson.weightsManifest)) throw new Error('no weightsManifest');
    specs = modelJson.weightsManifest.flatMap((g) => g.weights);
  } catch (error) {
    throw new Error(`checkpoint file ${modelFile} cannot be read (truncated or damaged): ${(error as Error).message}`);
  }
  try {
    bytes = await readFile(weightsFile);
  } catch (error) {
    throw new Error(`checkpoint file ${weightsFile} cannot be read: ${(error as Error).message}`);
  }
  const map = decodeCheckedWeights(specs, bytes, modelFile, weightsFile);
  const currentWeights = fromTensors(specs.map((s) => ({ name: `0:${s.name}`, tensor: map[s.name] })));
  const bestWeights = fromTensors(await readNamedTensors(dir, 'best-weights'));
  const optimizerState = state.hasOptimizerState ? await readOptimizerState(dir) : null;
  return { state, bestWeights, currentWeights, optimizerState };
}
