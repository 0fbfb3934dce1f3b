import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
// RESIDUUM_MODELS_DIR: build with the .onnx files of another folder (default: the repo's models/).
const modelsDir = process.env.RESIDUUM_MODELS_DIR ?? join(repoRoot, 'models');
const samplesDir = join(repoRoot, 'models', 'samples');
const fixtureModel = join(repoRoot, 'packages', 'inspection', 'test', 'fixtures', 'tiny-ae.onnx');
const require = createRequire(import.meta.url);
// The package's exports do not expose package.json; its .wasm files are exported.
const ortDist = dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm'));

/** Headers that make the page cross-origin isolated, so onnxruntime-web may use WASM threads. */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * The files the app serves itself (no CDN: factory networks have no internet):
 * - `ort/`: onnxruntime-web's WASM binaries and loaders (WebGPU entry: asyncify build; WASM entry: plain build);
 * - `models/`: every `.onnx` in the repository's models/ folder, plus `models/index.json`
 *   naming the default; without any, the tiny test fixture (and the index says so);
 * - `samples/`: the embedded sample images of models/samples, listed in the index.
 */
function collectStaticFiles(): Map<string, () => Buffer> {
  const files = new Map<string, () => Buffer>();
  // asyncify: the build of the WebGPU entry; plain: the WASM entry's (much faster on CPU).
  for (const name of [
    'ort-wasm-simd-threaded.asyncify.wasm',
    'ort-wasm-simd-threaded.asyncify.mjs',
    'ort-wasm-simd-threaded.wasm',
    'ort-wasm-simd-threaded.mjs',
  ]) {
    files.set(`ort/${name}`, () => readFileSync(join(ortDist, name)));
  }
  const models = existsSync(modelsDir)
    ? readdirSync(modelsDir).filter((f) => f.endsWith('.onnx')).sort()
    : [];
  for (const m of models) files.set(`models/${m}`, () => readFileSync(join(modelsDir, m)));
  let defaultModel = models.find((m) => m.startsWith('default')) ?? models[0];
  let note: string | undefined;
  if (defaultModel === undefined) {
    defaultModel = 'tiny-ae-fixture.onnx';
    note = 'models/ holds no .onnx yet: serving the tiny random-weight test fixture (16x16 grey), not a trained model.';
    files.set(`models/${defaultModel}`, () => readFileSync(fixtureModel));
  }
  const samples: string[] = [];
  const samplesRoot = samplesDir;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const full = join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(jpe?g|png|bmp|webp)$/i.test(entry)) {
        const rel = relative(samplesRoot, full).split(sep).join('/');
        samples.push(rel);
        files.set(`samples/${rel}`, () => readFileSync(full));
      }
    }
  };
  if (existsSync(samplesRoot)) walk(samplesRoot);
  const index = { default: defaultModel, models: models.length > 0 ? models : [defaultModel], samples, ...(note ? { note } : {}) };
  files.set('models/index.json', () => Buffer.from(JSON.stringify(index, null, 2)));
  return files;
}

function contentType(path: string): string {
  if (path.endsWith('.wasm')) return 'application/wasm';
  if (path.endsWith('.mjs') || path.endsWith('.js')) return 'text/javascript';
  if (path.endsWith('.json')) return 'application/json';
  if (/\.jpe?g$/i.test(path)) return 'image/jpeg';
  if (path.endsWith('.png')) return 'image/png';
  return 'application/octet-stream';
}

function residuumStaticFiles(): Plugin {
  let files = new Map<string, () => Buffer>();
  return {
    name: 'residuum-static-files',
    buildStart() {
      files = collectStaticFiles();
    },
    configureServer(server) {
      files = collectStaticFiles();
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\//, '');
        const read = files.get(path);
        if (!read) return next();
        res.setHeader('Content-Type', contentType(path));
        res.end(read());
      });
    },
    generateBundle() {
      for (const [fileName, read] of files) this.emitFile({ type: 'asset', fileName, source: read() });
    },
  };
}

export default defineConfig({
  // Relative base: the built app works from any sub-path it is deployed under.
  base: './',
  // 'onnxruntime-web-use-extern-wasm' selects onnxruntime-web's entry that loads its WASM loader
  // and binary from ort.env.wasm.wasmPaths (our own ort/ folder) instead of a bundled copy,
  // so the 27 MB binary is shipped once.
  resolve: { conditions: ['@residuum/source', 'onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  plugins: [residuumStaticFiles()],
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // embed.html: the README's embedding example, built and tested like the dashboard;
    // line.html: line mode, following a running line service.
    rollupOptions: { input: { dashboard: join(here, 'index.html'), embed: join(here, 'embed.html'), line: join(here, 'line.html') } },
  },
});
