/**
 * The one way every hff node reads its dialog's number fields and names a value it refuses. A field left empty
 * takes the node's default; anything else that is not a number within the field's range is an error the user
 * sees (the node shows 'bad settings' and each message gets the error), never silently replaced by a default.
 */
export { describe } from '../../src/describe';

export interface NumberRules {
  /** Whole numbers only. */
  integer?: boolean;
  min?: number;
  max?: number;
  /** `min` itself is refused (e.g. a rate that must be above 0). */
  aboveMin?: boolean;
}

function rangeText(rules: NumberRules): string {
  const kind = rules.integer ? 'a whole number' : 'a number';
  const low = rules.min === undefined ? '' : `${rules.aboveMin ? '>' : '>='} ${rules.min}`;
  const high = rules.max === undefined ? '' : `<= ${rules.max}`;
  return [kind, [low, high].filter((s) => s !== '').join(' and ')].filter((s) => s !== '').join(' ');
}

/**
 * A number field of a node's settings: undefined when empty (the caller's default applies), else the number.
 * Throws "<field> must be <rule>, got <value>" for text that is not a number or a number outside the rules.
 */
export function numberSetting(value: unknown, field: string, rules: NumberRules = {}): number | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : NaN;
  const fits =
    Number.isFinite(n) &&
    (!rules.integer || Number.isInteger(n)) &&
    (rules.min === undefined || (rules.aboveMin ? n > rules.min : n >= rules.min)) &&
    (rules.max === undefined || n <= rules.max);
  if (!fits) throw new Error(`${field} must be ${rangeText(rules)}, got ${JSON.stringify(value)}`);
  return n;
}
