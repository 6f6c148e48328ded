export * from './config';
export * from './network';
export * from './training';
export { SeededRandom } from './random';
export { loadNetwork, saveNetwork } from './persistence';
