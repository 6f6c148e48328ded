/**
 * MQTT topic layout of fleet sharing: `<base>/<origin>/<class>`, one retained message per
 * (origin, class). Origin and class are percent-encoded so names with '/', '+', '#', spaces or
 * non-ASCII letters stay one topic level and never act as wildcards.
 */

export const DEFAULT_TOPIC_BASE = 'hff/fleet';

/** Percent-encodes one topic level (encodeURIComponent also escapes '/', '+', '#' and '%'). */
export function encodeTopicLevel(name: string): string {
  if (typeof name !== 'string' || name === '') throw new Error('a fleet topic level must be a non-empty string');
  // '*' and the like are legal in MQTT; '$' only matters at the very start of a topic, which is the base.
  return encodeURIComponent(name);
}

export function decodeTopicLevel(level: string): string {
  return decodeURIComponent(level);
}

/** Checks a topic base such as `hff/fleet` or `factory1/hff` (no wildcards, no empty levels). */
export function validateTopicBase(base: string): string {
  if (typeof base !== 'string' || base.trim() === '') throw new Error('the fleet topic base must be a non-empty MQTT topic such as hff/fleet');
  // eslint-disable-next-line no-control-regex -- NUL is what this refuses
  if (/[+#\u0000]/.test(base)) throw new Error(`the fleet topic base '${base}' must not contain '+', '#' or NUL`);
  if (base.startsWith('/') || base.endsWith('/') || base.includes('//')) {
    throw new Error(`the fleet topic base '${base}' must not start or end with '/' nor contain empty levels`);
  }
  if (base.startsWith('$')) throw new Error(`the fleet topic base '${base}' must not start with '$' (reserved for broker topics)`);
  return base;
}

export function updateTopic(base: string, origin: string, label: string): string {
  return `${base}/${encodeTopicLevel(origin)}/${encodeTopicLevel(label)}`;
}

/** The subscription covering every origin and class under `base`. */
export function subscriptionTopic(base: string): string {
  return `${base}/+/+`;
}

/** Origin and class named by a topic under `base`, or undefined when the topic has another shape. */
export function parseUpdateTopic(base: string, topic: string): { origin: string; label: string } | undefined {
  if (!topic.startsWith(`${base}/`)) return undefined;
  const rest = topic.slice(base.length + 1).split('/');
  if (rest.length !== 2 || rest[0] === '' || rest[1] === '') return undefined;
  try {
    return { origin: decodeTopicLevel(rest[0]), label: decodeTopicLevel(rest[1]) };
  } catch {
    return undefined;
  }
}
