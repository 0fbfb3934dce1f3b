export { NeighborConv2D, NEIGHBOR_OFFSETS, type NeighborConv2DArgs, type NeighborActivation } from './neighbor-conv2d.js';
export { McDropout, setMcDropout, supplyMcDropoutMasks, type McDropoutArgs, type NchwMask } from './mc-dropout.js';
export { VaeSampling, type VaeSamplingArgs } from './vae-sampling.js';
export { NearestNeighbourDistance, type NearestNeighbourDistanceArgs } from './nearest-neighbour-distance.js';
