/** Child process of worker-thread.test.ts: inspects one image and never disposes; the process must still exit. */
import { createNodeInspector } from '../src/index.js';

const [modelPath, imagePath] = process.argv.slice(2);
const inspector = await createNodeInspector(modelPath, { provider: 'cpu', threads: 1 });
const [result] = await inspector.inspect([imagePath]);
process.stdout.write(JSON.stringify({ ok: result.ok }));
