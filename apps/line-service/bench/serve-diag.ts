// The line service in its own process for bench/line-latency.ts: like test/fixtures/serve-child.ts,
// plus what the answers' latency split cannot show. On SIGUSR2 it prints "DIAG <json>" (garbage
// collection pauses and event-loop delay since the last SIGUSR2) and starts counting afresh.
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import pino from 'pino';
import { startLineService } from '../src/index.js';

if (process.env.BENCH_V8_FLAGS) setFlagsFromString(process.env.BENCH_V8_FLAGS);
const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
let pauses: Array<{ at: number; ms: number; kind: string }> = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as unknown as { detail?: { kind?: number } }).detail;
    pauses.push({ at: performance.timeOrigin + entry.startTime, ms: entry.duration, kind: KINDS[detail?.kind ?? -1] ?? 'other' });
  }
}).observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

const service = await startLineService({ port: 0, provider: 'cpu', logger: pino({ level: 'error' }), watchDir: false, ...options });
process.on('SIGUSR2', () => {
  const byKind: Record<string, { count: number; totalMs: number; maxMs: number }> = {};
  for (const p of pauses) {
    const k = (byKind[p.kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    k.count += 1;
    k.totalMs += p.ms;
    k.maxMs = Math.max(k.maxMs, p.ms);
  }
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const report = {
    gc: byKind,
    gcPauses: pauses,
    loopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
    memory: process.memoryUsage(),
  };
  process.stdout.write(`DIAG ${JSON.stringify(report)}\n`);
  pauses = [];
  loopDelay.reset();
});
process.stdout.write(`READY ${service.url}\n`);
process.once('SIGTERM', () => void service.close().then(() => process.exit(0)));
