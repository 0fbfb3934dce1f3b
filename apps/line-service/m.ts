import { postImage, runClients, samples, startTestService, tempDir } from './test/helpers.js';
const d = tempDir('m');
const s = await startTestService(d.dir, { watchDir: false, heatmaps: (process.env.HM ?? 'anomalous') as 'all' });
for (const clients of [1, 16]) {
  const n = clients === 1 ? 100 : 600;
  const t = performance.now();
  const r = await runClients(n, clients, (i) => postImage(s.url, samples[i % 24].bytes));
  const secs = (performance.now() - t) / 1000;
  const lat: Record<string, number> = {};
  for (const x of r) for (const [k, v] of Object.entries(x.body.latencyMs as Record<string, number>)) lat[k] = (lat[k] ?? 0) + v / n;
  console.log(clients, 'clients', (n / secs).toFixed(1), 'img/s', JSON.stringify(Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, +v.toFixed(2)]))));
}
await s.close(); d.remove();
