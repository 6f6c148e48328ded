/** Fleet-wide teaching: class updates, their order-independent merge, signing and MQTT sync (no Node-RED import). */
export {
  FLEET_FORMAT,
  FLEET_LIMITS,
  FleetRejection,
  SignatureScheme,
  canonicalJson,
  nameProblem,
  encodeUpdate,
  readPayload,
  decodeUpdate,
  parseUpdate,
  type FleetUpdate,
  type FleetHeader,
  type FleetPayload,
  type RejectReason,
} from './format';
export { FleetSigner, generateFleetKeyPair, publicKeyText, readPublicKey, parseAllowList, type FleetSecurity, type FleetSecurityMode } from './security';
export { FleetState, type MergedClass, type OfferResult, type LocalStamp, type SeenVersions, type FleetStateOptions } from './state';
export { DEFAULT_TOPIC_BASE, encodeTopicLevel, decodeTopicLevel, validateTopicBase, updateTopic, subscriptionTopic, parseUpdateTopic } from './topics';
export { NetworkFleetTarget, modelFingerprint, FLEET_METADATA_KEY, type FleetTarget, type NetworkFleetTargetOptions } from './network';
export {
  FleetSync,
  FleetConnectionError,
  type FleetSyncOptions,
  type FleetStatus,
  type FleetConnectionState,
  type FleetRejectEvent,
  type FleetMergeEvent,
  type FleetStats,
  type LocalTeaching,
} from './sync';
