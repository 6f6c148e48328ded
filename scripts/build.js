#!/usr/bin/env node
// Compiles TypeScript to dist/ and copies each node's editor files (html, locales, icons) beside its
// compiled runtime file, where Node-RED looks for them.
//   --if-stale  do nothing when dist/ was built after the last change to the sources (what `npm start` uses, so
//               that a restart with nothing changed takes seconds, not a 20-50 s compile)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const SOURCES = ['src', 'nodes', 'test', 'bench', 'tsconfig.json', 'package.json', 'package-lock.json', __filename];

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

if (process.argv.includes('--if-stale')) {
  let built = 0;
  try {
    built = fs.statSync(stamp).mtimeMs;
  } catch {
    // never built (or an interrupted build): build
  }
  if (built > newestChange(SOURCES)) process.exit(0);
  console.log('build: sources changed since the last build, compiling');
}
// A fresh dist/: compiled files of deleted sources (a removed test, say) must not linger and run.
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', root], { stdio: 'inherit' });

const nodesDir = path.join(root, 'nodes');
if (fs.existsSync(nodesDir)) {
  for (const type of fs.readdirSync(nodesDir)) {
    const from = path.join(nodesDir, type);
    if (!fs.statSync(from).isDirectory()) continue;
    const to = path.join(root, 'dist', 'nodes', type);
    fs.mkdirSync(to, { recursive: true });
    fs.cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith('.ts') });
  }
}
if (result.status !== 0) {
  console.error('build: TypeScript reported errors (see above)');
  process.exit(result.status ?? 1);
}
fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
