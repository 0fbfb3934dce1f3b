import { createNodeInspector } from '@residuum/runtime-node';

export interface NodeScore {
  source: string;
  score: number;
  isAnomalous: boolean;
}

/** runtime-node (onnxruntime-node CPU + sharp decoding + the shared core): the reference the browser must match. */
export async function nodeScores(modelPath: string, imagePaths: readonly string[], threshold?: number): Promise<Map<string, NodeScore>> {
  const inspector = await createNodeInspector(modelPath, { provider: 'cpu' });
  try {
    const results = await inspector.inspect(imagePaths, threshold === undefined ? {} : { threshold });
    const scores = new Map<string, NodeScore>();
    results.forEach((result, i) => {
      if (!result.ok) throw new Error(`runtime-node could not score ${imagePaths[i]}: ${result.error}`);
      scores.set(imagePaths[i], { source: imagePaths[i], score: result.score, isAnomalous: result.isAnomalous });
    });
    return scores;
  } finally {
    await inspector.dispose();
  }
}
