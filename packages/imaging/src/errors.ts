/** Why an image could not be decoded; stable codes for callers that count failures. */
export type ImageDecodeFailure =
  | 'unreadable' // the file could not be read (missing, permission, a directory)
  | 'empty' // zero bytes
  | 'not-an-image' // content is no known image format
  | 'unsupported-format' // a known image format this package does not accept
  | 'truncated' // the file ends before the image data does
  | 'corrupt' // a known format whose data the decoder rejects
  | 'too-large'; // more pixels than the limit (MAX_IMAGE_PIXELS / RESIDUUM_MAX_IMAGE_PIXELS)

/** An image that could not be decoded: names the file (or the caller's label) and the reason. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  constructor(
    /** Path or caller-given label of the image. */
    readonly source: string,
    readonly failure: ImageDecodeFailure,
    /** Human-readable reason, without the source. */
    readonly reason: string,
  ) {
    super(`${source}: ${reason}`);
  }
}

/** A dataset folder or file list that cannot be used as given (missing, empty, malformed). */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}
