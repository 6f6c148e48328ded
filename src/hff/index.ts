export * from './config';
export * from './network';
export type { TeachMode, TeachOptions, TeachResult } from './class-book';
export * from './training';
export { SeededRandom } from './random';
export { loadNetwork, saveNetwork } from './persistence';
