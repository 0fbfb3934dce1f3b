import { open } from 'node:fs/promises';

/** What residuum writes; an existing output is replaced without --force only by the same kind. */
export type OutputKind = 'inspect-json' | 'evaluate-json' | 'report-html' | 'plant-report-html' | 'onnx-model';

/** The name used in messages: "--json a.json holds an evaluate result (JSON)". */
export const KIND_NAMES: Readonly<Record<OutputKind, string>> = {
  'inspect-json': 'an inspect result (JSON)',
  'evaluate-json': 'an evaluate result (JSON)',
  'report-html': 'an evaluation report (HTML)',
  'plant-report-html': 'a plant report (HTML)',
  'onnx-model': 'an ONNX model',
};

export type ExistingContent = { kind: OutputKind } | { kind: 'other'; description: string };

async function readHead(path: string, bytes: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** An ONNX file starts with the ModelProto's ir_version field (tag 0x08) and has the .onnx name or protobuf look. */
function looksLikeOnnx(path: string, head: Uint8Array): boolean {
  return /\.onnx$/i.test(path) || (head[0] === 0x08 && head.length > 1 && head[1] > 0 && head[1] < 16);
}

/**
 * Says what an existing file is, from its first bytes: JSON and HTML outputs carry
 * "generator": "residuum ..." (and JSON a "command"), reports <meta name="generator" content="residuum ...">.
 * Every ONNX file counts as a model (a production model is never replaced without --force).
 */
export async function identifyExisting(path: string): Promise<ExistingContent> {
  const head = await readHead(path, 4096);
  if (looksLikeOnnx(path, head)) return { kind: 'onnx-model' };
  const text = Buffer.from(head).toString('utf8');
  if (/<meta name="generator" content="residuum/.test(text)) return { kind: /<meta name="residuum-report" content="plant">/.test(text) ? 'plant-report-html' : 'report-html' };
  if (/"generator"\s*:\s*"residuum/.test(text)) {
    const command = /"command"\s*:\s*"([a-z-]+)"/.exec(text)?.[1];
    if (command === 'inspect') return { kind: 'inspect-json' };
    if (command === 'evaluate') return { kind: 'evaluate-json' };
    return { kind: 'other', description: `a residuum ${command ?? ''} output (JSON)`.replace('  ', ' ') };
  }
  if (head.length === 0) return { kind: 'other', description: 'an empty file' };
  return { kind: 'other', description: 'a file that residuum did not write' };
}
