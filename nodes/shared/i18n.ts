/**
 * Status and error texts from a node's `locales/en-US/<type>.json`. In a running Node-RED the runtime's
 * translator (RED._) is used; where it has no catalog (the test helper returns the key unchanged) the node's
 * own English catalog, read from beside the compiled file, fills in, so texts read the same everywhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Vars = Record<string, string | number>;
export type Translate = (key: string, vars?: Vars) => string;

interface RedTranslator {
  _?: (key: string, vars?: Vars) => string;
}

function lookup(catalog: unknown, key: string): string | undefined {
  let at: unknown = catalog;
  for (const part of key.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return typeof at === 'string' ? at : undefined;
}

/** Node-RED's catalogs mark substitutions as __name__. */
function interpolate(text: string, vars: Vars = {}): string {
  return text.replace(/__([A-Za-z0-9]+)__/g, (whole, name: string) => (vars[name] === undefined ? whole : String(vars[name])));
}

/**
 * A translator for keys under the node's type, e.g. `t('status.ready', {classes: 3})` reads
 * `"<type>": {"status": {"ready": "ready, __classes__ classes"}}`.
 */
export function translator(RED: RedTranslator, type: string, nodeDir: string): Translate {
  let catalog: unknown;
  try {
    catalog = JSON.parse(fs.readFileSync(path.join(nodeDir, 'locales', 'en-US', `${type}.json`), 'utf8'));
  } catch {
    catalog = {};
  }
  // Status texts are built for every message, and Node-RED's translator costs tens of microseconds a call: each
  // key's template is asked for once (its placeholders filled with themselves) and filled in here.
  const templates = new Map<string, string>();
  const template = (key: string, vars: Vars | undefined): string => {
    const names = vars ? Object.keys(vars).sort() : [];
    const cacheKey = `${key}|${names.join(',')}`;
    let text = templates.get(cacheKey);
    if (text !== undefined) return text;
    const full = `${type}.${key}`;
    const markers: Vars = Object.fromEntries(names.map((name) => [name, `__${name}__`]));
    let translated: string | undefined;
    try {
      translated = RED._?.(full, markers);
    } catch {
      translated = undefined;
    }
    if (typeof translated === 'string' && translated !== '' && !translated.endsWith(full)) text = translated;
    else text = lookup(catalog, full) ?? full;
    templates.set(cacheKey, text);
    return text;
  };
  return (key, vars) => interpolate(template(key, vars), vars);
}
