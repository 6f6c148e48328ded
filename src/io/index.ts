export * from './types';
export * from './qos';
export { DropWhileBusy, DirectDelivery, createDelivery, type Delivery } from './drop-while-busy';
export { BUNDLED_DEFINITIONS } from './msgs/definitions';
export {
  ROS2MSG_SEPARATOR,
  normalizeTypeName,
  shortTypeName,
  registerMessageDefinition,
  getMessageDefinition,
  hasMessageDefinition,
  knownMessageTypes,
  messageDependencies,
  fullSchemaText,
} from './msgs/schema';
export { Ros2MsgCodec, getCodec, encodeCdr, decodeCdr, normalizeMessage, checkMessage, toBuffer, type RosMessage, type MessageDefinitions } from './msgs/cdr';
export { BagReader, type BagInfo, type BagMessage, type BagTopicInfo, type BagReaderOptions, type ReadMessagesOptions } from './bag/reader';
export { replayBag, replayReader, type ReplayOptions, type ReplaySummary, type BagReplay } from './bag/replay';
export { BagWriter, toNs, type BagWriterOptions, type WriteOptions, type TopicOptions, type TimeInput } from './bag/writer';
export {
  type RclnodejsModule,
  type RclNode,
  type RclContext,
  type RclQoS,
  type RclQoSClass,
  type RclPublisher,
  type RclSubscription,
  rclnodejsMissingMessage,
} from './ros2/rclnodejs';
export {
  loadRclnodejs,
  setRclnodejsModule,
  setRclnodejsLoader,
  acquireNode,
  shutdownRos2,
  ros2RuntimeInfo,
  validateDomainId,
  validateNodeName,
  type NodeLease,
} from './ros2/runtime';
export { Ros2Transport, toRclQos, type Ros2TransportOptions } from './ros2/transport';
export {
  FoxgloveBridgeTransport,
  type FoxgloveBridgeOptions,
  type ReconnectOptions,
  type BridgeChannelInfo,
  type WebSocketConstructor,
} from './foxglove/transport';
