/** The options of the flow throughput benchmark, shared by `hff bench-flow` and `node dist/src/bench/flow/bench-flow.js`. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES } from '../../engines/backend';
import { demoAssets, packageRoot } from '../../demo/userdir';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\+?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}

export function declareBenchFlowOptions(cmd: Command): Command {
  const assets = demoAssets(packageRoot());
  return cmd
    .description('frames per second and latency of hff-image -> hff-classify in Node-RED vs direct library calls')
    .option('--model <dir>', 'model directory', assets.model)
    .option('--bag <file>', 'MCAP bag with sensor_msgs/Image or CompressedImage frames on /camera/image_raw', assets.bag)
    .option('--frames <n>', 'measured frames per path', positiveInt, 2000)
    .option('--warmup <n>', 'unmeasured frames per path first', positiveInt, 200)
    .option('--concurrency <n>', 'frames in flight at once on each path (1: the next frame starts when the previous result is out)', positiveInt, 1)
    .option('--block <n>', 'frames per alternating block of each path', positiveInt, 50)
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print the result as one JSON line');
}
