/** This package's name, root folder and version, found from src/ or dist/src/ alike. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PACKAGE_NAME = 'node-red-contrib-hff';

/** The package root (the folder holding this package's package.json). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${__dirname}`);
    dir = up;
  }
}

let version: string | undefined;

/** The version in this package's package.json ('unknown' when it cannot be read). */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
      version = manifest.version ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
