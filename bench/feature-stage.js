#!/usr/bin/env node
// What a feature stage costs per frame: `node bench/feature-stage.js --stage file.onnx --size 224x224` after `npm run build`.
'use strict';
const path = require('node:path');
const { main } = require(path.join(__dirname, '..', 'dist', 'src', 'bench', 'feature-stage', 'index.js'));
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`bench-feature-stage: ${err.message}\n`);
  process.exit(1);
});
