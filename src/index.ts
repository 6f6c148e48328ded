/** node-red-contrib-hff library entry: the engine and I/O without any Node-RED dependency. */
export * from './hff';
export { createEngine, selectBackend, BACKEND_CHOICES, type BackendChoice } from './engines/backend';
export type { Engine, Activation, OptimizerSettings, PrototypeUpdate } from './engines/types';
export * from './model-file';
export * from './datasets';
export * from './image';
export * from './drift';
