import { transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { AppError, concurrentUpdate, notAllowedInState, notFound } from '../kernel/errors';
import type { Clock } from '../kernel/clock';
import type { IdSource } from '../kernel/ids';
import { activeTraceparent, inSpan } from '../kernel/tracing';
import { collectEffects, stateOf } from './effects';
import { Mailboxes } from './mailbox';
import { MachineRegistry, parseAddress, type ActorKind } from './registry';
import {
  VersionConflictError,
  type ActorCommit,
  type Message,
  type MessageMetadata,
  type NewMessage,
  type StoredActor,
  type Store,
  type Tx,
} from './ports';

/** An event sent into an actor. The edge stamps `now` (and any new ids) into it before sending. */
export type ActorEvent = { type: string } & Record<string, unknown>;

/**
 * Work done inside the commit transaction for every committed message it handles: an inline read
 * model or a database-enforced rule (capacity). Throwing an AppError rolls the whole command back.
 */
export interface InlineHandler {
  name: string;
  handles: readonly string[];
  apply(tx: Tx, message: Message): Promise<void>;
  /**
   * Its writes may share a transaction with other actors' commits (CommitOptions.groupable): it writes
   * its own rows, or changes shared rows with single conditional statements. Commits whose messages
   * meet an inline handler without it are written in a transaction of their own.
   */
  groupable?: boolean;
}

/** The outcome of an accepted command. */
export interface SendResult {
  address: string;
  state: string;
  status: StoredActor['status'];
  context: Record<string, unknown>;
  version: number;
  messages: Message[];
}

export interface SendOptions {
  metadata: MessageMetadata;
  /** Create the actor when it does not exist yet (otherwise an unknown address is a 404). */
  create?: boolean;
  /**
   * The caller has just minted this actor's id, so the first attempt skips looking for a stored actor
   * (one round trip less on the hot path of creation); a clash still loses the compare-and-set and is
   * retried against the store.
   */
  minted?: boolean;
  /**
   * Runs inside the commit transaction after the inline handlers (e.g. completing an idempotency key).
   * It may only write rows of its own: the transaction may be shared with other actors' commits.
   */
  inTx?: (tx: Tx, result: SendResult) => Promise<void>;
  /** Set by the timer loop: the timer whose firing this is. */
  firedTimer?: { name: string; dueAt: string };
  traceId?: string;
}

/** Stored actors were written by machine versions this build does not have (a downgrade, say): it must not start. */
export class UnregisteredMachinesError extends Error {
  override name = 'UnregisteredMachinesError';
  constructor(readonly machineIds: readonly string[]) {
    super(`stored actors use machine versions that are not registered: ${machineIds.join(', ')}`);
  }
}

/** How a command ended: committed, refused (404, 409, an inline rule), or failed unexpectedly. */
export type CommandOutcome = 'accepted' | 'rejected' | 'failed';

/** What the runtime reports about its work (metrics hook in here; the runtime knows no metrics library). */
export interface RuntimeObserver {
  command(kind: string, outcome: CommandOutcome, durationSeconds: number): void;
  conflict(kind: string): void;
}

export interface RuntimeDeps {
  store: Store;
  clock: Clock;
  ids: IdSource;
  kinds: ActorKind[];
  inline?: InlineHandler[];
  /** Called after every commit with the committed messages (the outbox buffer hooks in here). */
  afterCommit?: (messages: Message[]) => void;
  /** How many times a lost compare-and-set is retried before the caller gets a retryable 409. */
  maxAttempts?: number;
  /** Snapshots kept in memory. */
  cacheSize?: number;
  observer?: RuntimeObserver;
}

interface Loaded {
  stored: StoredActor | null;
  fromCache: boolean;
  machine: AnyStateMachine;
  snapshot: AnyMachineSnapshot;
}

/**
 * The actor runtime: load → can(event) → pure transition() → one transaction → outcome (DESIGN.md).
 * No live interpreter runs for a persisted actor; every command is computed, then executed.
 */
export class ActorRuntime {
  readonly registry: MachineRegistry;
  private readonly mailboxes = new Mailboxes();
  private readonly cache = new Map<string, StoredActor>();
  private readonly inlineByName = new Map<string, InlineHandler[]>();
  /** Messages met by an inline handler that is not groupable: their commits get a transaction of their own. */
  private readonly ownTransaction = new Set<string>();
  private readonly maxAttempts: number;
  private readonly cacheSize: number;
  private closed = false;

  constructor(private readonly deps: RuntimeDeps) {
    this.registry = new MachineRegistry(deps.kinds);
    this.maxAttempts = deps.maxAttempts ?? 8;
    this.cacheSize = deps.cacheSize ?? 10_000;
    for (const handler of deps.inline ?? []) {
      for (const name of handler.handles) {
        this.inlineByName.set(name, [...(this.inlineByName.get(name) ?? []), handler]);
        if (handler.groupable !== true) this.ownTransaction.add(name);
      }
    }
  }

  /**
   * Refuses to run when the store holds snapshots written by a machine version that is not registered
   * (a deploy that dropped an old definition too early).
   */
  async verifyStoredMachines(): Promise<void> {
    const rows = await this.deps.store.query<{ machine_id: string }>(
      "SELECT DISTINCT machine_id FROM actors WHERE status = 'active'",
    );
    const missing = rows.map((r) => r.machine_id).filter((id) => !this.registry.machine(id));
    if (missing.length > 0) throw new UnregisteredMachinesError(missing);
  }

  /** Sends one event into one actor and resolves with the committed outcome (or rejects with an AppError). */
  send(address: string, event: ActorEvent, options: SendOptions): Promise<SendResult> {
    if (this.closed) return Promise.reject(new AppError({ code: 'SHUTTING_DOWN', status: 503, detail: 'The service is shutting down', retryable: true }));
    return this.mailboxes.run(address, () => this.sendWithRetries(address, event, options));
  }

  /** Reads an actor's current state without changing it; null when it does not exist. */
  async get(address: string): Promise<(SendResult & { updatedAt: string }) | null> {
    const stored = await this.deps.store.loadActor(address);
    if (!stored) return null;
    return {
      address,
      state: stored.state,
      status: stored.status,
      context: (stored.snapshot as { context?: Record<string, unknown> }).context ?? {},
      version: stored.version,
      messages: [],
      updatedAt: stored.updatedAt,
    };
  }

  /**
   * The actor's state as this instance last committed or loaded it, else as stored; null when unknown.
   * Costs no round trip for an actor this instance just wrote, but another instance may have moved the
   * actor since: rely on it only for states the actor never leaves.
   */
  async lastKnownState(address: string): Promise<string | null> {
    const cached = this.cache.get(address);
    if (cached !== undefined) return cached.state;
    return this.storedState(address);
  }

  /** The actor's state as stored now (never this instance's cache); null when unknown. */
  async storedState(address: string): Promise<string | null> {
    return (await this.deps.store.loadActor(address))?.state ?? null;
  }

  /** Stops accepting commands and waits for the queued ones to finish. */
  async close(): Promise<void> {
    this.closed = true;
    await this.mailboxes.drain();
  }

  private sendWithRetries(address: string, event: ActorEvent, options: SendOptions): Promise<SendResult> {
    // A child of the active span (the request, the handler), else of the message or timer that caused it.
    const parent = activeTraceparent() ? undefined : options.metadata.traceparent;
    const kind = parseAddress(address).kind;
    const startedAt = performance.now();
    const observe = (outcome: CommandOutcome) => this.deps.observer?.command(kind, outcome, (performance.now() - startedAt) / 1000);
    return inSpan(`actor ${parseAddress(address).kind} ${event.type}`, { 'actor.address': address, 'actor.event': event.type }, async (span) => {
      const traceparent = activeTraceparent();
      const traced: SendOptions = {
        ...options,
        metadata: { ...options.metadata, ...(traceparent ? { traceparent } : {}) },
        traceId: options.traceId ?? span.spanContext().traceId,
      };
      try {
        const result = await this.retryConflicts(address, event, traced);
        span.setAttributes({ 'actor.state': result.state, 'actor.version': result.version, 'actor.messages': result.messages.length });
        observe('accepted');
        return result;
      } catch (error) {
        observe(error instanceof AppError ? 'rejected' : 'failed');
        throw error;
      }
    }, parent ? { traceparent: parent } : {});
  }

  private async retryConflicts(address: string, event: ActorEvent, options: SendOptions): Promise<SendResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(address, event, options, options.minted === true && attempt === 1);
      } catch (error) {
        if (!(error instanceof VersionConflictError)) throw error;
        this.deps.observer?.conflict(parseAddress(address).kind);
        this.cache.delete(address);
        if (attempt >= this.maxAttempts) {
          throw concurrentUpdate(`${address} is being changed by other requests; retry`);
        }
        await Bun.sleep(Math.random() * Math.min(100, 2 ** attempt));
      }
    }
  }

  private async attempt(address: string, event: ActorEvent, options: SendOptions, assumeNew = false): Promise<SendResult> {
    const loaded = await this.load(address, options.create === true, assumeNew);
    const fromState = stateOf(loaded.snapshot);
    const at = this.deps.clock.now().toISOString();

    if (!loaded.snapshot.can(event)) {
      // Another instance may have moved the actor on since we cached it: judge only the stored truth.
      if (loaded.fromCache) {
        this.cache.delete(address);
        return this.attempt(address, event, options);
      }
      await this.deps.store.recordRejection({
        address,
        version: loaded.stored?.version ?? 0,
        event,
        fromState,
        at,
        correlationId: options.metadata.correlation_id,
        ...(options.traceId ? { traceId: options.traceId } : {}),
      });
      if (!loaded.stored) throw notFound(address);
      throw notAllowedInState(address, fromState, event.type);
    }

    const [next, actions] = transition(loaded.machine, loaded.snapshot, event);
    const effects = collectEffects(actions);
    const lastSeq = loaded.stored?.lastSeq ?? 0;
    const messages: NewMessage[] = effects.messages.map((m, i) => ({
      id: this.deps.ids.uuid(),
      name: m.name,
      kind: m.kind,
      actor: address,
      actorSeq: lastSeq + i + 1,
      data: m.data,
      metadata: options.metadata,
      occurredAt: at,
    }));
    const persisted = loaded.machine.getPersistedSnapshot(next);
    const status = next.status as StoredActor['status'];
    const state = stateOf(next);
    const commit: ActorCommit = {
      address,
      kind: parseAddress(address).kind,
      machineId: loaded.machine.id,
      expectedVersion: loaded.stored?.version ?? 0,
      state,
      status,
      snapshot: persisted,
      messages,
      timers: {
        set: effects.timers.set,
        cancel: effects.timers.cancel,
        cancelAll: status !== 'active',
        ...(options.firedTimer ? { fired: options.firedTimer } : {}),
      },
      journal: {
        event,
        fromState,
        toState: state,
        messageIds: messages.map((m) => m.id),
        at,
        correlationId: options.metadata.correlation_id,
        ...(options.traceId ? { traceId: options.traceId } : {}),
      },
      ...(options.metadata.traceparent ? { traceparent: options.metadata.traceparent } : {}),
      correlationId: options.metadata.correlation_id,
      at,
    };
    const result: SendResult = {
      address,
      state,
      status,
      context: next.context as Record<string, unknown>,
      version: commit.expectedVersion + 1,
      messages: [],
    };

    const groupable = !messages.some((m) => this.ownTransaction.has(m.name));
    // With no inline handler and no inTx the commit writes only the actor's own rows.
    const ownRowsOnly = options.inTx === undefined && !messages.some((m) => this.inlineByName.has(m.name));
    const committed = await inSpan('store commit', { 'actor.address': address, 'actor.from': fromState, 'actor.to': state, 'actor.machine': commit.machineId }, () =>
      this.deps.store.commit(
        commit,
        async (tx, written) => {
          result.messages = written;
          for (const message of written) {
            for (const handler of this.inlineByName.get(message.name) ?? []) await handler.apply(tx, message);
          }
          if (options.inTx) await options.inTx(tx, result);
        },
        { groupable, ownRowsOnly },
      ),
    );
    result.messages = committed;

    this.remember({
      address,
      kind: commit.kind,
      machineId: commit.machineId,
      version: result.version,
      lastSeq: lastSeq + messages.length,
      state,
      status,
      snapshot: persisted,
      createdAt: loaded.stored?.createdAt ?? at,
      updatedAt: at,
    });
    if (committed.length > 0) this.deps.afterCommit?.(committed);
    return result;
  }

  private async load(address: string, create: boolean, assumeNew: boolean): Promise<Loaded> {
    const cached = assumeNew ? undefined : this.cache.get(address);
    const stored = assumeNew ? null : (cached ?? (await this.deps.store.loadActor(address)));
    if (stored) {
      const machine = this.registry.machine(stored.machineId);
      if (!machine) throw new Error(`${address} was written by unregistered machine ${stored.machineId}`);
      return { stored, fromCache: cached !== undefined, machine, snapshot: machine.resolveState(stored.snapshot as never) };
    }
    const { kind } = parseAddress(address);
    const actorKind = this.registry.kind(kind);
    const initial = this.registry.initialSnapshot(kind);
    if (!actorKind || !initial || !create) throw notFound(address);
    return { stored: null, fromCache: false, machine: actorKind.machine, snapshot: initial };
  }

  private remember(actor: StoredActor): void {
    this.cache.delete(actor.address);
    this.cache.set(actor.address, actor);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}
