import { parseArgs } from 'node:util';
import { EXIT_USAGE, UsageError } from './command';
import type { Command } from './command';
import { chatCommand } from './chat';
import { replayCommand } from './replay';

// Subcommands register here.
const COMMANDS: Readonly<Record<string, Command>> = {
  chat: chatCommand,
  replay: replayCommand,
};

function usage(): string {
  const names = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(10)} ${command.summary}`);
  return [
    'usage: turnflow <command> [options]',
    '',
    'commands:',
    ...names,
    '',
    'turnflow <command> --help for more.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { tokens } = parseArgs({ args: argv, allowPositionals: true, strict: false, tokens: true });
  const first = tokens[0];
  // Global options end at the first positional: that is the command name.
  if (first === undefined || (first.kind === 'option' && (first.name === 'help' || first.name === 'h'))) {
    (first === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
    return first === undefined ? EXIT_USAGE : 0;
  }
  if (first.kind !== 'positional') {
    process.stderr.write(`turnflow: unknown option ${argv[0] ?? ''}\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  const command = COMMANDS[first.value];
  if (command === undefined) {
    process.stderr.write(`turnflow: unknown command "${first.value}"\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  const args = argv.slice(first.index + 1);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (err: unknown) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`turnflow ${first.value}: ${err.message}\n\n${command.usage}\n`);
    return EXIT_USAGE;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
