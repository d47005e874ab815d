import type { JournalEntry, Message, Store, StoredActor } from '../actors/ports';
import { canonicalAddress } from '../kernel/ids';

/** The store reads `tickets actors show` needs; nothing it calls writes. */
export type ActorTimelineStore = Pick<Store, 'pendingMigrations' | 'loadActor' | 'readJournal' | 'readActorMessages'>;

export interface ShowActorOptions {
  store: ActorTimelineStore;
  /** `<kind>/<id>`, e.g. `booking/0199…` (parseArgs checks the form). */
  address: string;
  /** Where each line of output goes (without the trailing newline). */
  write: (line: string) => void;
}

/** The actor has no snapshot, journal or message in the store; the message says where it looked. */
export class UnknownActorError extends Error {
  override name = 'UnknownActorError';
}

/** There is no store where the configuration points, or its schema is behind this build: its tables cannot be read with confidence. */
export class StoreNotMigratedError extends Error {
  override name = 'StoreNotMigratedError';
}

/** Throws StoreNotMigratedError unless the store is the service's, fully migrated (not an empty or older one). */
export async function assertMigrated(store: Pick<ActorTimelineStore, 'pendingMigrations'>): Promise<void> {
  const pending = await store.pendingMigrations();
  if (pending.length > 0) throw new StoreNotMigratedError(`the store has pending migrations (${pending.join(', ')}): check that DATA_DIR or POSTGRES_URL names the service's store, or run \`tickets migrate\``);
}

/**
 * `tickets actors show <address>`: prints an actor's timeline from the store, a header with its machine,
 * state and version, then one line per journal step (time, version, event, from → to, emitted message
 * names), rejected commands included, and any emitted message no step names (none in a healthy store).
 * Rejects with UnknownActorError when the store knows nothing of the address.
 */
export async function showActor({ store, address: given, write }: ShowActorOptions): Promise<void> {
  const address = canonicalAddress(given);
  await assertMigrated(store);

  const [actor, journal, messages] = await Promise.all([store.loadActor(address), store.readJournal(address), store.readActorMessages(address)]);
  if (actor === null && journal.length === 0 && messages.length === 0) throw new UnknownActorError(`unknown actor ${address}: nothing in the store under this address`);

  write(header(address, actor, journal.length, messages.length));
  const byId = new Map(messages.map((message) => [message.id, message]));
  const named = new Set<string>();
  for (const entry of journal) {
    for (const id of entry.messageIds) named.add(id);
    write(stepLine(entry, byId));
  }
  const orphans = messages.filter((message) => !named.has(message.id));
  if (orphans.length > 0) {
    write(`messages no journal step names (${orphans.length}):`);
    for (const message of orphans) write(`  ${message.occurredAt}  #${message.actorSeq} ${message.name} (${message.kind})`);
  }
}

function header(address: string, actor: StoredActor | null, steps: number, messages: number): string {
  if (actor === null) return `${address}: no snapshot (only rejected commands); ${steps} steps, ${messages} messages`;
  return (
    `${address}: machine ${actor.machineId}, state ${actor.state} (${actor.status}), version ${actor.version}, ` +
    `created ${actor.createdAt}, updated ${actor.updatedAt}; ${steps} steps, ${messages} messages`
  );
}

function stepLine(entry: JournalEntry, messages: ReadonlyMap<string, Message>): string {
  const transition = entry.rejected ? `${entry.fromState || '(new)'} ✗ rejected` : `${entry.fromState || '(new)'} → ${entry.toState}`;
  const emitted = entry.messageIds.map((id) => messages.get(id)?.name ?? `${id} (not in the log)`);
  const emits = emitted.length > 0 ? `  emits ${emitted.join(', ')}` : '';
  const correlation = entry.correlationId ? `  [${entry.correlationId}]` : '';
  return `${entry.at}  v${entry.version}  ${entry.event.type}  ${transition}${emits}${correlation}`;
}
