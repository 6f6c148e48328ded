export { DriftState, DriftDetector, DriftDetectorKind } from './types';
export { PageHinkley, PageHinkleyOptions, PageHinkleyDirection } from './page-hinkley';
export { Adwin, AdwinOptions } from './adwin';
export { Ddm, DdmOptions } from './ddm';
export { createDriftDetector, DriftDetectorOptionsByKind } from './factory';
export { MAX_DRIFT_INPUT } from './validate';
