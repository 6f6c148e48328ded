'use strict';
// Whether dist/ is older than the sources: build.js --if-stale (npm start) compiles only then, and the npm start
// test knows whether a start may compile.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** Written by build.js after each successful build. */
const stamp = path.join(root, 'dist', '.build-stamp');
const SOURCES = ['src', 'nodes', 'test', 'bench', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/build.js', __filename];

/** The newest modification time under the given files and folders (ms). */
function newestChange(paths) {
  let newest = 0;
  const visit = (p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    newest = Math.max(newest, st.mtimeMs);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  for (const p of paths) visit(path.resolve(root, p));
  return newest;
}

/** True when dist/ was never built completely or a source changed after the last build. */
function isStale() {
  try {
    return fs.statSync(stamp).mtimeMs <= newestChange(SOURCES);
  } catch {
    return true;
  }
}

module.exports = { stamp, isStale };
