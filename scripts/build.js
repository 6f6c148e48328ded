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
const { stamp, isStale } = require('./build-state');

if (process.argv.includes('--if-stale')) {
  if (!isStale()) process.exit(0);
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
