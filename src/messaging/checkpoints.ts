import { LOG_START, type LogCursor, type SqlExecutor } from '../actors/ports';

/** Where a log reader (outbox relay, reconciler, projection) has got to; the log's start when new. */
export async function readCheckpoint(db: SqlExecutor, name: string): Promise<LogCursor> {
  const [row] = await db.query<{ tx: number; position: number }>('SELECT tx, position FROM checkpoints WHERE name = $1', [name]);
  return row ? { tx: Number(row.tx), position: Number(row.position) } : LOG_START;
}

/**
 * Moves a checkpoint from `expected` to `next` with compare-and-set, so that two readers of one log
 * never both advance it. Resolves to false when another reader moved it first.
 */
export async function advanceCheckpoint(db: SqlExecutor, name: string, expected: LogCursor, next: LogCursor, now: string): Promise<boolean> {
  if (expected.tx === LOG_START.tx && expected.position === LOG_START.position) {
    const inserted = await db.execute(
      'INSERT INTO checkpoints (name, tx, position, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING',
      [name, next.tx, next.position, now],
    );
    if (inserted === 1) return true;
  }
  const updated = await db.execute(
    'UPDATE checkpoints SET tx = $1, position = $2, updated_at = $3 WHERE name = $4 AND tx = $5 AND position = $6',
    [next.tx, next.position, now, name, expected.tx, expected.position],
  );
  return updated === 1;
}
