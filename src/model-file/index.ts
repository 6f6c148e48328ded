export { MODEL_FORMAT, MODEL_FORMAT_VERSION, SUPPORTED_FORMAT_VERSIONS, MANIFEST_FILE, NamedTensor, ModelFiles, WeightsEntry, TensorEntry } from './format';
export { saveModelFiles, prepareModelFiles, writePreparedModel, PreparedModel, SaveHooks, SaveStep } from './save';
export { loadModelFiles, modelExists } from './load';
export { ModelStore, ModelStoreOptions } from './store';
export { MODEL_KIND, NetworkModel, encodeNetwork, decodeNetwork, storedConfig, taughtClassNames, taughtDemoCounts } from './network';
