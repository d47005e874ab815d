/** The subcommands of the binary. */
export type Command =
  | { name: 'serve' }
  | { name: 'migrate' }
  | { name: 'gateway' }
  | { name: 'rebuild'; projection: string }
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'unknown'; problem: string };

export const USAGE = `Usage: tickets [command]

Commands:
  serve                          Serve the API, run actors, timers, handlers and read models (default)
  migrate                        Apply pending database migrations and exit
  gateway                        Serve the external-services simulator over HTTP on PORT
  projections rebuild <name>     Rebuild a read model from the event log while the service keeps serving
  --help                         Show this help
  --version                      Print the version

Configuration comes from environment variables; with none set the service runs embedded
(SQLite in DATA_DIR, default ./data) on PORT 8080. See the README for the full list.`;

/** Reads the subcommand from the arguments after the executable and script. */
export function parseArgs(args: readonly string[]): Command {
  const [first, second, third, ...rest] = args;
  switch (first) {
    case undefined:
    case 'serve':
      return { name: 'serve' };
    case 'migrate':
      return { name: 'migrate' };
    case 'gateway':
      return { name: 'gateway' };
    case 'projections':
      if (second === 'rebuild' && third && rest.length === 0) return { name: 'rebuild', projection: third };
      return { name: 'unknown', problem: 'Usage: tickets projections rebuild <name>' };
    case '--help':
    case '-h':
    case 'help':
      return { name: 'help' };
    case '--version':
    case '-v':
      return { name: 'version' };
    default:
      return { name: 'unknown', problem: `Unknown command "${first}".` };
  }
}
