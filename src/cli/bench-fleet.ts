/** `hff bench-fleet`: how fast a fleet of robots converges on parts taught at once (src/bench/fleet), option parsing only. */
import { Command, Option } from 'commander';
import type { BenchFleetOptions } from '../bench/fleet';
import { CliContext, parseLayers, parsePositiveInt } from './common';

type RawOptions = BenchFleetOptions & { json?: boolean };

export function addBenchFleetCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('bench-fleet')
    .description('fleet teaching benchmark: N robots on one MQTT broker, P parts taught at the same moment; time until every robot knows every part')
    .option('--robots <n>', 'robots (FleetSync clients in this process)', parsePositiveInt, 100)
    .option('--parts <n>', 'parts taught at once, each on another robot', parsePositiveInt, 10)
    .option('--layers <widths>', 'layer widths of the shared model', parseLayers, [1000, 1000, 1000])
    .addOption(
      new Option('--security <mode>', 'how updates are signed (keys: an Ed25519 key per robot)').choices(['keys', 'secret', 'unsigned']).default('keys'),
    )
    .addOption(
      new Option('--broker <kind>', 'broker to start (auto: mosquitto if installed, else aedes in-process)')
        .choices(['auto', 'mosquitto', 'aedes'])
        .default('auto'),
    )
    .option('--url <url>', 'use this running broker instead of starting one (e.g. mqtt://127.0.0.1:1883)')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: RawOptions) => {
      const { runBenchFleet, formatBenchFleet } = require('../bench/fleet') as typeof import('../bench/fleet');
      const { json, ...options } = opts;
      const result = await runBenchFleet(options, json ? undefined : (line) => ctx.io.err(`${line}\n`));
      ctx.io.out(json ? `${JSON.stringify(result)}\n` : `${formatBenchFleet(result)}\n`);
    });
}
