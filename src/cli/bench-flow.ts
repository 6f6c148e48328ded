/**
 * `hff bench-flow`: the flow throughput benchmark (src/bench/flow/bench-flow.ts) as an `hff` sub-command. The
 * benchmark module, Node-RED and the model are loaded only when the command runs.
 */
import type { Command } from 'commander';
import type { CliContext } from './common';
import type { BenchFlowOptions } from '../bench/flow/bench-flow';

export function addBenchFlowCommand(program: Command, ctx: CliContext): Command {
  const { declareBenchFlowOptions } = require('../bench/flow/options') as typeof import('../bench/flow/options');
  return declareBenchFlowOptions(program.command('bench-flow')).action(async (opts: BenchFlowOptions) => {
    const { runBenchFlow, formatResult } = require('../bench/flow/bench-flow') as typeof import('../bench/flow/bench-flow');
    const result = await runBenchFlow(opts, opts.json ? undefined : (line) => ctx.io.err(`${line}\n`));
    ctx.io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatResult(result)}\n`);
  });
}
