#!/usr/bin/env node
'use strict';
require('../dist/src/cli/main.js')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`hff: ${err && err.message ? err.message : err}`);
      process.exitCode = 1;
    },
  );
