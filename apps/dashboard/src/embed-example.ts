// The README's copy-paste example, built as embed.html and exercised by the browser tests.
import { mountInspectionPanel } from '@residuum/inspection-panel';
import { createWebInspector } from '@residuum/runtime-web';

// Your model's URL; here, the default model this app serves.
const modelUrl = `models/${((await (await fetch('models/index.json')).json()) as { default: string }).default}`;

const inspector = await createWebInspector(modelUrl, {
  provider: 'auto', // WebGPU when the browser gives an adapter, else WASM
  wasmPaths: new URL('ort/', document.baseURI).href, // where this app serves onnxruntime-web's files
});
const panel = mountInspectionPanel(document.getElementById('inspection')!, inspector);
panel.onChange((p) => {
  document.title = `${p.entries.length} inspected`;
});
