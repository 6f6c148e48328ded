/**
 * Baselines for the benchmark: vanilla Forward-Forward (tfjs) and a same-size backprop network, MLP or CNN (tfjs, or
 * onnxruntime for the onnx engine).
 */
export { ForwardForwardNetwork, FF_DEFAULTS } from './forward-forward';
export type { ForwardForwardOptions, ForwardForwardConfig, ForwardForwardParams, FFTrainResult } from './forward-forward';
export { BackpropNetwork } from './backprop';
export { OnnxBackpropNetwork } from './backprop-onnx';
export type { BackpropOptions, BackpropConfig, BackpropParams } from './backprop';
export { trainEpochs, evaluateIndices, resolveOptimizer } from './common';
export type { BaselineTrainOptions, BaselineTrainSummary, BatchTrainable } from './common';
