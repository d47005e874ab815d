/** The subcommands of the binary. */
export type Command =
  | { name: 'serve' }
  | { name: 'migrate' }
  | { name: 'gateway' }
  | { name: 'rebuild'; projection: string }
  | { name: 'create-ops'; email: string }
  | { name: 'actor'; address: string }
  | { name: 'healthcheck'; path: string }
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'unknown'; problem: string };

/** An actor's address: `<kind>/<id>`. */
const ACTOR_ADDRESS = /^[^/\s]+\/\S+$/;

export const USAGE = `Usage: tickets [command]

Commands:
  serve                          Serve the API, run actors, timers, handlers and read models (default)
  migrate                        Apply pending database migrations and exit
  gateway                        Serve the external-services simulator over HTTP on PORT
  projections rebuild <name>     Rebuild a read model from the event log while the service keeps serving
  accounts create-ops <email>    Create or update the ops account (password: OPS_PASSWORD or stdin)
  actors show <address>          Print an actor's timeline (steps, transitions, emitted messages), e.g. booking/<id>
  healthcheck [path]             Exit 0 when the server on PORT answers 200 on path (default /health)
  --help                         Show this help
  --version                      Print the version

Configuration comes from environment variables; with none set the service runs embedded
(SQLite in DATA_DIR, default ./data) on PORT 8080. See the README for the full list.`;

/**
 * Reads the subcommand from the arguments after the executable and script. `--help` anywhere asks for
 * help (it never starts or changes anything), and an argument a command does not take is a usage error.
 */
export function parseArgs(args: readonly string[]): Command {
  if (args.some((arg) => arg === '--help' || arg === '-h')) return { name: 'help' };
  const [first, second, third, ...rest] = args;
  switch (first) {
    case undefined:
    case 'serve':
    case 'migrate':
    case 'gateway': {
      const name = first ?? 'serve';
      if (second !== undefined) return { name: 'unknown', problem: `Usage: tickets ${name} (it takes no arguments; configuration comes from the environment)` };
      return { name };
    }
    case 'projections':
      if (second === 'rebuild' && third && rest.length === 0) return { name: 'rebuild', projection: third };
      return { name: 'unknown', problem: 'Usage: tickets projections rebuild <name>' };
    case 'actors':
      if (second === 'show' && third && rest.length === 0) {
        if (!ACTOR_ADDRESS.test(third)) return { name: 'unknown', problem: `"${third}" is not an actor address: expected <kind>/<id>, e.g. booking/<uuid>` };
        return { name: 'actor', address: third };
      }
      return { name: 'unknown', problem: 'Usage: tickets actors show <address>' };
    case 'healthcheck':
      if (third === undefined && (second === undefined || second.startsWith('/'))) return { name: 'healthcheck', path: second ?? '/health' };
      return { name: 'unknown', problem: 'Usage: tickets healthcheck [/path]' };
    case 'accounts':
      if (second === 'create-ops' && third && rest.length === 0) return { name: 'create-ops', email: third };
      return { name: 'unknown', problem: 'Usage: tickets accounts create-ops <email>' };
    case 'help':
      return { name: 'help' };
    case '--version':
    case '-v':
      if (second !== undefined) return { name: 'unknown', problem: 'Usage: tickets --version (it takes no arguments)' };
      return { name: 'version' };
    default:
      return { name: 'unknown', problem: `Unknown command "${first}".` };
  }
}
