import { systemClock, type Clock } from '../kernel/clock';
import type { ProjectionRunner, RebuildResult } from '../messaging/projections';

export interface RebuildProjectionOptions {
  /** A runner over the service's projections (it need not be started). */
  runner: ProjectionRunner;
  name: string;
  /** Where each line of output goes (without the trailing newline). */
  write: (line: string) => void;
  /** Measures the rate; the system clock by default. */
  clock?: Clock;
  /** A progress line every this many log messages read (default 10 000). */
  every?: number;
}

/**
 * `tickets projections rebuild <name>`: rebuilds one read model from the event log while the service keeps
 * serving the old table, printing progress and a summary. An unknown name rejects with an
 * UnknownProjectionError whose message lists the known names, before anything is written.
 */
export async function rebuildProjection(options: RebuildProjectionOptions): Promise<RebuildResult> {
  const { runner, name, write } = options;
  const clock = options.clock ?? systemClock;
  const every = options.every ?? 10_000;
  const { table } = runner.projection(name);
  const startedAt = clock.now().getTime();
  const rate = (read: number) => Math.round(read / (Math.max(1, clock.now().getTime() - startedAt) / 1000));

  write(`rebuilding projection ${name} from the event log into ${table}__rebuild; ${table} keeps serving until the swap`);
  let nextLine = every;
  const result = await runner.rebuild(name, ({ read, applied, position }) => {
    if (read < nextLine) return;
    nextLine = (Math.floor(read / every) + 1) * every;
    write(`  ${read} messages read, ${applied} facts applied, at log position ${position} (${rate(read)} messages/s)`);
  });
  const seconds = (clock.now().getTime() - startedAt) / 1000;
  write(
    `rebuilt projection ${name}: ${result.read} messages read, ${result.applied} facts applied, ${result.rows} rows in ${table}, ` +
      `in ${seconds.toFixed(1)} s (${rate(result.read)} messages/s); the live runner continues from log position ${result.checkpoint.position}`,
  );
  return result;
}
