#!/usr/bin/env node
// Links this package's own `hff` command into node_modules/.bin. Without it, `npx hff` run inside the
// repository does not find a local binary and installs a snapshot copy of the project into npm's cache, which
// then runs stale code.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const binDir = path.join(root, 'node_modules', '.bin');
const link = path.join(binDir, 'hff');
const target = path.relative(binDir, path.join(root, 'bin', 'hff.js'));
fs.mkdirSync(binDir, { recursive: true });
try {
  if (fs.readlinkSync(link) === target) process.exit(0);
} catch {
  // missing or not a link: replace below
}
fs.rmSync(link, { force: true });
fs.symlinkSync(target, link);
