/** Fleet-wide teaching: class updates, their order-independent merge, signing and MQTT sync (no Node-RED import). */
export {
  FLEET_FORMAT,
  MAX_UPDATE_BYTES,
  FleetRejection,
  canonicalJson,
  canonicalBody,
  signUpdate,
  verifyUpdate,
  parseUpdate,
  serializeUpdate,
  type FleetUpdate,
  type RejectReason,
} from './format';
export { FleetState, type MergedClass, type OfferResult, type LocalStamp } from './state';
export {
  DEFAULT_TOPIC_BASE,
  encodeTopicLevel,
  decodeTopicLevel,
  validateTopicBase,
  updateTopic,
  subscriptionTopic,
  parseUpdateTopic,
} from './topics';
export { NetworkFleetTarget, modelFingerprint, type FleetTarget, type NetworkFleetTargetOptions } from './network';
export {
  FleetSync,
  type FleetSyncOptions,
  type FleetStatus,
  type FleetConnectionState,
  type FleetRejectEvent,
  type FleetMergeEvent,
  type FleetStats,
  type LocalTeaching,
} from './sync';
