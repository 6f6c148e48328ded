#!/usr/bin/env node
// Speed benchmark launcher: `node bench/speed.js [options]` after `npm run build` (see bench/SPEED.md).
'use strict';
const path = require('node:path');
const { main } = require(path.join(__dirname, '..', 'dist', 'src', 'bench', 'speed', 'index.js'));
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`bench-speed: ${err.message}\n`);
  process.exit(1);
});
