/** The subcommands of the binary. */
export type Command =
  | { name: 'serve' }
  | { name: 'migrate' }
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'unknown'; given: string };

export const USAGE = `Usage: tickets [command]

Commands:
  serve        Serve the API, run actors, timers and handlers (default)
  migrate      Apply pending database migrations and exit
  --help       Show this help
  --version    Print the version

Configuration comes from environment variables; with none set the service runs embedded
(SQLite in DATA_DIR, default ./data) on PORT 8080. See the README for the full list.`;

/** Reads the subcommand from the arguments after the executable and script. */
export function parseArgs(args: readonly string[]): Command {
  const [first] = args;
  switch (first) {
    case undefined:
    case 'serve':
      return { name: 'serve' };
    case 'migrate':
      return { name: 'migrate' };
    case '--help':
    case '-h':
    case 'help':
      return { name: 'help' };
    case '--version':
    case '-v':
      return { name: 'version' };
    default:
      return { name: 'unknown', given: first };
  }
}
