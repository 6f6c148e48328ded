import { Adwin, AdwinOptions } from './adwin';
import { Ddm, DdmOptions } from './ddm';
import { PageHinkley, PageHinkleyOptions } from './page-hinkley';
import { DriftDetector, DriftDetectorKind } from './types';
import { describe } from '../describe';

/** Options accepted by each kind of detector. */
export interface DriftDetectorOptionsByKind {
  'page-hinkley': PageHinkleyOptions;
  adwin: AdwinOptions;
  ddm: DdmOptions;
}

export function createDriftDetector(kind: 'page-hinkley', options?: PageHinkleyOptions): PageHinkley;
export function createDriftDetector(kind: 'adwin', options?: AdwinOptions): Adwin;
export function createDriftDetector(kind: 'ddm', options?: DdmOptions): Ddm;
export function createDriftDetector<K extends DriftDetectorKind>(kind: K, options?: DriftDetectorOptionsByKind[K]): DriftDetector;
/** Builds a detector by name, e.g. from a node's configuration. */
export function createDriftDetector(kind: DriftDetectorKind, options: object = {}): DriftDetector {
  switch (kind) {
    case 'page-hinkley':
      return new PageHinkley(options as PageHinkleyOptions);
    case 'adwin':
      return new Adwin(options as AdwinOptions);
    case 'ddm':
      return new Ddm(options as DdmOptions);
    default:
      throw new Error(`Unknown drift detector ${describe(kind)}: expected 'page-hinkley', 'adwin' or 'ddm'`);
  }
}
