/** Hand-written tf.io model.json documents, for layers tested without their TF.js classes. */
export interface LayerJson {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inputs: string[];
}

export interface WeightJson {
  name: string;
  shape: number[];
  values: Float32Array;
}

export function functionalModelJson(inputShape: number[], layers: LayerJson[], outputs: string[], weights: WeightJson[]) {
  const modelJson = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Model',
      config: {
        name: 'handwritten',
        layers: [
          { name: 'input', class_name: 'InputLayer', config: { batch_input_shape: [null, ...inputShape], dtype: 'float32', name: 'input' }, inbound_nodes: [] },
          ...layers.map((l) => ({
            name: l.name,
            class_name: l.className,
            config: { name: l.name, trainable: true, ...l.config },
            inbound_nodes: [l.inputs.map((i) => [i, 0, 0, {}])],
          })),
        ],
        input_layers: [['input', 0, 0]],
        output_layers: outputs.map((o) => [o, 0, 0]),
      },
    },
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  const total = weights.reduce((n, w) => n + w.values.length, 0);
  const data = new Float32Array(total);
  let offset = 0;
  for (const w of weights) {
    data.set(w.values, offset);
    offset += w.values.length;
  }
  return { modelJson, weights: new Uint8Array(data.buffer) };
}
