/** Baselines for the benchmark: vanilla Forward-Forward and a same-size backprop MLP, on the same tfjs backend as HFF. */
export { ForwardForwardNetwork, FF_DEFAULTS } from './forward-forward';
export type { ForwardForwardOptions, ForwardForwardConfig, ForwardForwardParams, FFTrainResult } from './forward-forward';
export { BackpropNetwork } from './backprop';
export type { BackpropOptions, BackpropConfig, BackpropParams } from './backprop';
export { trainEpochs, evaluateIndices, resolveOptimizer } from './common';
export type { BaselineTrainOptions, BaselineTrainSummary, BatchTrainable } from './common';
