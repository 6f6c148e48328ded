import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;
let tfModule: Tf | undefined;

/**
 * The tfjs namespace, loaded on first use so that `require` of the package stays cheap. Its own module so that
 * backend selection and the tfjs engine both use it without importing each other.
 */
export function tf(): Tf {
  if (!tfModule) tfModule = require('@tensorflow/tfjs') as Tf;
  return tfModule;
}
