/**
 * Ground truth from folder names, when a dataset's layout says it: a parent folder named
 * good / ok / normal (also ok_front, good_1, ...) marks a good part, any other parent folder a
 * defect class (def_front, crack, ...). A bare file name says nothing.
 */
export type GroundTruth = 'good' | 'defective';

const GOOD_FOLDER = /^(good|ok|normal|pass)([_\-. ].*)?$/i;

export function groundTruthFromPath(path: string): GroundTruth | undefined {
  const parts = path.split(/[\\/]/).filter((part) => part.length > 0);
  if (parts.length < 2) return undefined;
  const parent = parts[parts.length - 2];
  return GOOD_FOLDER.test(parent) ? 'good' : 'defective';
}
