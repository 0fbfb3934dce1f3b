export type Split = 'train' | 'test';
/** 0 = normal (good), 1 = anomalous. */
export type Label = 0 | 1;

/** One image file of a dataset. */
export interface FileDatasetItem {
  /** Absolute (or as given) path of the image file. */
  path: string;
  /** Path relative to the dataset root, '/'-separated; the item's identity in reports and fingerprints. */
  relPath: string;
  label: Label;
  split: Split;
  /** Name of the defect class (its folder) for anomalous items. */
  defectType?: string;
  /** Ground-truth mask of an anomalous item, when the dataset has one. */
  maskPath?: string;
}

/** Pixels of an IDX image file (MNIST), kept whole in memory: count x height x width bytes. */
export interface IdxImages {
  file: string;
  data: Uint8Array;
  count: number;
  width: number;
  height: number;
}

/** One image inside an IDX file. */
export interface IdxDatasetItem {
  /** '<split>/<digit>/<index>', e.g. 'test/7/00042'. */
  relPath: string;
  images: IdxImages;
  index: number;
  /** The class label of the source (e.g. the digit). */
  classLabel: number;
  label: Label;
  split: Split;
  defectType?: string;
}

export type DatasetItem = FileDatasetItem | IdxDatasetItem;

export function isFileItem(item: DatasetItem): item is FileDatasetItem {
  return 'path' in item;
}

/** Everything a reader saw and did not turn into an item, so nothing is dropped silently. */
export interface DatasetReport {
  /** Files and folders in image folders that are not images (by extension), with the reason. */
  ignored: Array<{ relPath: string; reason: string }>;
  /** Items left out on purpose (exclusion list). */
  excluded: string[];
  /** Exclusion-list entries that matched no image. */
  unknownExclusions: string[];
  /** Anomalous images without a ground-truth mask (MVTec layout). */
  missingMasks: string[];
  /** Masks with no matching test image (MVTec layout). */
  orphanMasks: string[];
}

export interface Dataset<Item extends DatasetItem = DatasetItem> {
  root: string;
  layout: 'mvtec' | 'folder' | 'mnist';
  /** Sorted by relPath (deterministic). */
  items: Item[];
  report: DatasetReport;
}

export function emptyReport(): DatasetReport {
  return { ignored: [], excluded: [], unknownExclusions: [], missingMasks: [], orphanMasks: [] };
}

/** Plain code-unit order: the same on every machine and locale. */
export function compareRelPath(a: { relPath: string }, b: { relPath: string }): number {
  return a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0;
}
