/** Whether the middleware retries lost samples. */
export type Reliability = 'reliable' | 'best-effort';
/** Whether late-joining subscribers get the last published samples. */
export type Durability = 'volatile' | 'transient-local';
/** Keep the last `depth` samples, or all of them (bounded by middleware resources). */
export type History = 'keep-last' | 'keep-all';

/** Transport-neutral QoS, mapped to rclnodejs's QoS class or recorded into bags. */
export interface QosSettings {
  reliability: Reliability;
  durability: Durability;
  history: History;
  depth: number;
}

/**
 * Camera subscriptions: best effort so it matches both reliable and best-effort publishers (a
 * reliable subscriber never receives from a best-effort camera driver), depth 1 since only the
 * newest frame is useful.
 */
export const CAMERA_QOS: Readonly<QosSettings> = Object.freeze({
  reliability: 'best-effort',
  durability: 'volatile',
  history: 'keep-last',
  depth: 1,
});

/** rclcpp's default profile; also our publisher default because reliable offers match every subscriber. */
export const DEFAULT_QOS: Readonly<QosSettings> = Object.freeze({
  reliability: 'reliable',
  durability: 'volatile',
  history: 'keep-last',
  depth: 10,
});

/** Latched-topic profile (maps, static configuration, robot_description). */
export const LATCHED_QOS: Readonly<QosSettings> = Object.freeze({
  reliability: 'reliable',
  durability: 'transient-local',
  history: 'keep-last',
  depth: 1,
});

const PRESETS: Record<string, Readonly<QosSettings>> = {
  camera: CAMERA_QOS,
  sensor: CAMERA_QOS,
  sensor_data: CAMERA_QOS,
  'sensor-data': CAMERA_QOS,
  default: DEFAULT_QOS,
  reliable: DEFAULT_QOS,
  latched: LATCHED_QOS,
  'transient-local': LATCHED_QOS,
};

/** Partial settings (from a Node-RED form) or a preset name. */
export type QosInput = Partial<QosSettings> | keyof typeof PRESETS | string | undefined | null;

function token(v: unknown): string {
  return String(v)
    .trim()
    .toLowerCase()
    .replace(/[_\s]+/g, '-');
}

/**
 * Completes and validates QoS settings. Spellings from ROS tools (`best_effort`, `BEST_EFFORT`,
 * `transient_local`) are accepted because users copy them from `ros2 topic info -v`.
 */
export function resolveQos(input?: QosInput, fallback: Readonly<QosSettings> = CAMERA_QOS): QosSettings {
  if (input === undefined || input === null || input === '') return { ...fallback };
  if (typeof input === 'string') {
    const preset = PRESETS[token(input)] ?? PRESETS[input];
    if (!preset) throw new Error(`Unknown QoS preset '${input}': use one of ${Object.keys(PRESETS).join(', ')}`);
    return { ...preset };
  }
  if (typeof input !== 'object') throw new Error(`QoS must be an object or a preset name, got ${typeof input}`);
  const out: QosSettings = { ...fallback };
  if (input.reliability !== undefined) {
    const r = token(input.reliability);
    if (r === 'reliable') out.reliability = 'reliable';
    else if (r === 'best-effort' || r === 'besteffort') out.reliability = 'best-effort';
    else throw new Error(`Invalid QoS reliability '${input.reliability}': use 'reliable' or 'best-effort'`);
  }
  if (input.durability !== undefined) {
    const d = token(input.durability);
    if (d === 'volatile') out.durability = 'volatile';
    else if (d === 'transient-local' || d === 'transientlocal') out.durability = 'transient-local';
    else throw new Error(`Invalid QoS durability '${input.durability}': use 'volatile' or 'transient-local'`);
  }
  if (input.history !== undefined) {
    const h = token(input.history);
    if (h === 'keep-last' || h === 'keeplast') out.history = 'keep-last';
    else if (h === 'keep-all' || h === 'keepall') out.history = 'keep-all';
    else throw new Error(`Invalid QoS history '${input.history}': use 'keep-last' or 'keep-all'`);
  }
  if (input.depth !== undefined) {
    const depth = Number(input.depth);
    if (!Number.isInteger(depth) || depth < 0 || depth > 100000) {
      throw new Error(`Invalid QoS depth '${input.depth}': expected an integer between 0 and 100000`);
    }
    out.depth = depth;
  }
  if (out.history === 'keep-last' && out.depth === 0) {
    throw new Error('Invalid QoS: history keep-last needs depth >= 1');
  }
  return out;
}

/** rmw enum values, shared by rclnodejs's QoS enums and rosbag2's offered_qos_profiles YAML. */
export const RMW_QOS = {
  history: { 'keep-last': 1, 'keep-all': 2 },
  reliability: { reliable: 1, 'best-effort': 2 },
  durability: { 'transient-local': 1, volatile: 2 },
} as const;

/**
 * The `offered_qos_profiles` channel metadata rosbag2 writes (Humble layout, which Jazzy still
 * reads); `ros2 bag play` uses it to offer the recorded QoS again.
 */
export function offeredQosProfilesYaml(qos: QosSettings): string {
  const infinite = '    sec: 2147483647\n    nsec: 4294967295\n';
  return (
    `- history: ${RMW_QOS.history[qos.history]}\n` +
    `  depth: ${qos.depth}\n` +
    `  reliability: ${RMW_QOS.reliability[qos.reliability]}\n` +
    `  durability: ${RMW_QOS.durability[qos.durability]}\n` +
    `  deadline:\n${infinite}` +
    `  lifespan:\n${infinite}` +
    '  liveliness: 1\n' +
    `  liveliness_lease_duration:\n${infinite}` +
    '  avoid_ros_namespace_conventions: false'
  );
}
