/** Child process of quiet-auto.test.ts: a fresh process, so the log level applies to onnxruntime's first session. */
import { createNodeInspector } from '../src/index.js';

const inspector = await createNodeInspector(process.argv[2], { provider: 'auto', logLevel: 'fatal', warmup: false });
process.stdout.write(JSON.stringify({ provider: inspector.provider, attempts: inspector.attempts }));
await inspector.dispose();
