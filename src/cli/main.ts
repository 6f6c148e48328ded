/**
 * The `hff` command line. `main` parses the arguments, runs one sub-command and resolves to the process exit
 * code; it never calls process.exit, so it can run in-process (tests) as well as from bin/hff.js.
 *
 * Exit codes: 0 success, 1 runtime error (`hff: <message>` on stderr), 2 bad arguments (commander's message and
 * the usage on stderr), 130 training interrupted by Ctrl-C.
 */
import { Command, CommanderError } from 'commander';
import { addBenchFlowCommand } from './bench-flow';
import { addBenchCommand } from './bench';
import { addBenchFleetCommand } from './bench-fleet';
import { registerBenchTeach } from './bench-teach';
import { BACKEND_CHOICES, CliContext, CliError, CliIO, processIO } from './common';
import { addEvalCommand } from './eval';
import { addExportCommand, addExportStageCommand } from './export';
import { addInfoCommand } from './info';
import { packageVersion } from '../package-info';
import { addPredictCommand } from './predict';
import { addTeachCommand } from './teach';
import { addTrainCommand } from './train';

export type { CliIO } from './common';

export function buildProgram(ctx: CliContext): Command {
  const { io } = ctx;
  const program = new Command('hff');
  // Settings made before .command() are inherited by every sub-command.
  program
    .description('Hyperspherical Forward-Forward networks: train, evaluate, predict, teach')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      getOutHelpWidth: () => 100,
      getErrHelpWidth: () => Math.min(io.errColumns ?? 100, 100),
    })
    // A usage error is its one line and where the usage is, not the whole help burying that line.
    .showHelpAfterError('(add --help for the usage)')
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      `\nThe compute backend is chosen by --backend ${BACKEND_CHOICES.join('|')}, else $HFF_BACKEND, else automatically.\n` +
        'Run `hff <command> --help` for the options of a command.',
    );
  addTrainCommand(program, ctx);
  addEvalCommand(program, ctx);
  addPredictCommand(program, ctx);
  addTeachCommand(program, ctx);
  addInfoCommand(program, ctx);
  addExportCommand(program, ctx);
  addExportStageCommand(program, ctx);
  addBenchCommand(program, ctx);
  registerBenchTeach(program, ctx);
  addBenchFlowCommand(program, ctx);
  addBenchFleetCommand(program, ctx);
  return program;
}

export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIO = processIO()): Promise<number> {
  const args = [...argv];
  const program = buildProgram({ io, argv: args });
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with exit code 0; every other commander error is a usage error, already printed.
      return err.exitCode === 0 ? 0 : 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.err(`hff: ${message}\n`);
    if (err instanceof CliError) return err.exitCode;
    return 1;
  }
}
