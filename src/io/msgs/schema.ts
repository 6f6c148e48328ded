import { BUNDLED_DEFINITIONS } from './definitions';

/** The 80 '=' line rosbag2 and foxglove_bridge put between concatenated `.msg` definitions. */
export const ROS2MSG_SEPARATOR = '='.repeat(80);

const PRIMITIVES = new Set([
  'bool',
  'byte',
  'char',
  'float32',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'string',
  'wstring',
  'time',
  'duration',
]);

/** Definitions added at run time by `registerMessageDefinition`, on top of the bundled ones. */
const registered = new Map<string, string>();

/**
 * Canonical ROS 2 type name `pkg/msg/Type`. Accepts `pkg/Type` (ROS 1 / schema-header style) and
 * `pkg/msg/Type`; anything else is a user error worth reporting before it reaches a decoder.
 */
export function normalizeTypeName(type: string): string {
  const t = String(type ?? '').trim();
  const parts = t.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return `${parts[0]}/msg/${parts[1]}`;
  if (parts.length === 3 && parts[0] && parts[1] && parts[2]) return t;
  throw new Error(`Invalid ROS 2 message type '${type}': expected 'package/msg/Type' (for example 'sensor_msgs/msg/Image')`);
}

/** `pkg/msg/Type` -> `pkg/Type`, the form used after `MSG:` in concatenated definitions. */
export function shortTypeName(type: string): string {
  const [pkg, , name] = normalizeTypeName(type).split('/');
  return `${pkg}/${name}`;
}

/** Adds (or replaces) the `.msg` text of one type so it can be encoded, recorded and published. */
export function registerMessageDefinition(type: string, msgText: string): void {
  if (typeof msgText !== 'string') throw new Error(`Message definition for '${type}' must be a string`);
  registered.set(normalizeTypeName(type), msgText);
}

/** The `.msg` text of one type (without its dependencies), or undefined when unknown. */
export function getMessageDefinition(type: string): string | undefined {
  const key = normalizeTypeName(type);
  return registered.get(key) ?? BUNDLED_DEFINITIONS[key];
}

/** Whether `fullSchemaText(type)` can be built from bundled/registered definitions. */
export function hasMessageDefinition(type: string): boolean {
  try {
    fullSchemaText(type);
    return true;
  } catch {
    return false;
  }
}

/** All types whose definitions are known (bundled and registered), canonical names, sorted. */
export function knownMessageTypes(): string[] {
  return [...new Set([...Object.keys(BUNDLED_DEFINITIONS), ...registered.keys()])].sort();
}

/** Complex field types referenced by one `.msg` text, as canonical names. */
export function messageDependencies(type: string, msgText: string): string[] {
  const pkg = normalizeTypeName(type).split('/')[0];
  const deps: string[] = [];
  for (const rawLine of msgText.split('\n')) {
    const line = rawLine.replace(/#.*$/, '').trim();
    if (!line) continue;
    const fieldType = line.split(/\s+/)[0];
    // Drop array suffixes ([], [3], [<=3]) and string bounds (string<=10) to get the element type.
    const base = fieldType.replace(/\[.*\]$/, '').replace(/<=\d+$/, '');
    if (PRIMITIVES.has(base)) continue;
    const dep = base.includes('/') ? normalizeTypeName(base) : `${pkg}/msg/${base}`;
    if (!deps.includes(dep)) deps.push(dep);
  }
  return deps;
}

/**
 * The complete `ros2msg` schema of a type as rosbag2 writes it into MCAP: the main definition,
 * then each dependency (depth first, once) after a separator line and `MSG: pkg/Type`.
 */
export function fullSchemaText(type: string): string {
  const main = normalizeTypeName(type);
  const mainText = getMessageDefinition(main);
  if (mainText === undefined) {
    throw new Error(
      `No message definition for '${main}'. Bundled types: ${knownMessageTypes().join(', ')}. ` +
        `Register others with registerMessageDefinition(type, msgText).`,
    );
  }
  const order: string[] = [];
  const visit = (t: string, text: string, chain: string[]): void => {
    for (const dep of messageDependencies(t, text)) {
      if (dep === main || order.includes(dep)) continue;
      if (chain.includes(dep)) throw new Error(`Recursive message definition: ${[...chain, dep].join(' -> ')}`);
      const depText = getMessageDefinition(dep);
      if (depText === undefined) {
        throw new Error(`Message '${main}' depends on '${dep}', which has no definition; register it with registerMessageDefinition().`);
      }
      order.push(dep);
      visit(dep, depText, [...chain, dep]);
    }
  };
  visit(main, mainText, [main]);
  let out = mainText.endsWith('\n') ? mainText : `${mainText}\n`;
  for (const dep of order) {
    const text = getMessageDefinition(dep) as string;
    out += `${ROS2MSG_SEPARATOR}\nMSG: ${shortTypeName(dep)}\n${text.endsWith('\n') ? text : `${text}\n`}`;
  }
  return out;
}
