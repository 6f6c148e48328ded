/** The options of the flow throughput benchmark, shared by `hff bench-flow` and `node dist/src/bench/flow/bench-flow.js`. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES } from '../../engines/backend';
import { demoAssets } from '../../demo/userdir';
import { packageRoot } from '../../package-info';
import { parseLayerStack } from '../../hff/config';
import { parseImageShape } from '../image-shape';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\+?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}

/** `parse`, with its errors reported by commander as an invalid argument of the option. */
function argument<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError(`${(err as Error).message}.`);
    }
  };
}

export function declareBenchFlowOptions(cmd: Command): Command {
  const assets = demoAssets(packageRoot());
  return cmd
    .description('frames per second and latency of hff-image -> hff-classify in Node-RED vs direct library calls')
    .option('--model <dir>', 'model directory', assets.model)
    .option(
      '--layers <layers>',
      "instead of --model, an untrained network of these layers (as hff train --layers: c32k3p2,c64k3p2,c128k3p2) with 10 classes: its speed is a trained one's",
      argument(parseLayerStack),
    )
    .option(
      '--input-shape <HxWxC>',
      'the images of the --layers network',
      argument((value) => parseImageShape(value, '--input-shape')),
      [32, 32, 3],
    )
    .option('--bag <file>', 'MCAP bag with sensor_msgs/Image or CompressedImage frames on /camera/image_raw', assets.bag)
    .option('--frames <n>', 'measured frames per path', positiveInt, 2000)
    .option('--warmup <n>', 'unmeasured frames per path first', positiveInt, 200)
    .option('--concurrency <n>', 'frames in flight at once on each path (1: the next frame starts when the previous result is out)', positiveInt, 1)
    .option('--block <n>', 'frames per alternating block of each path', positiveInt, 50)
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print the result as one JSON line');
}
