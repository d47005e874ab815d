import { AppError } from '../kernel/errors';
import type { Clock } from '../kernel/clock';
import type { IdSource } from '../kernel/ids';
import { inSpan } from '../kernel/tracing';
import type { DueTimer, Store } from './ports';
import type { ActorRuntime } from './runtime';

export interface TimerLoopDeps {
  store: Store;
  runtime: ActorRuntime;
  clock: Clock;
  ids: IdSource;
  /** Lease owner name; unique per instance. */
  owner: string;
  pollMs: number;
  /** How long a claimed timer is reserved for this instance before another may take it. */
  leaseMs?: number;
  batchSize?: number;
  onError?: (timer: DueTimer, error: unknown) => void;
}

/**
 * Delivers due timers into their actors, at least once: a timer is leased, its event sent, and it is
 * deleted in the same transaction as the transition it caused. A crash before that leaves the lease to
 * run out and the timer fires again; the machine ignores a stale one by its `due_at`.
 */
export class TimerLoop {
  private handle: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly deps: TimerLoopDeps) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for the batch in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.handle) clearTimeout(this.handle);
    await this.running;
  }

  /** Claims and delivers every timer due now; resolves to the number delivered. Used by tests too. */
  async tick(): Promise<number> {
    const { store, clock, owner } = this.deps;
    const due = await store.claimDueTimers(clock.now().toISOString(), this.deps.batchSize ?? 100, owner, this.deps.leaseMs ?? 30_000);
    await Promise.all(due.map((timer) => this.fire(timer)));
    return due.length;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.handle = setTimeout(() => {
      this.running = this.tick()
        .then((n) => this.schedule(n > 0 ? 0 : this.deps.pollMs))
        .catch(() => this.schedule(this.deps.pollMs));
    }, delay);
  }

  private async fire(timer: DueTimer): Promise<void> {
    const { clock } = this.deps;
    const event = { ...timer.event, now: clock.now().toISOString(), due_at: timer.dueAt };
    await inSpan(`timer ${timer.name}`, { 'actor.address': timer.address, 'timer.name': timer.name, 'timer.due_at': timer.dueAt, 'timer.attempts': timer.attempts }, () => this.deliver(timer, event), {
      traceparent: timer.traceparent,
      links: [timer.traceparent],
    });
  }

  private async deliver(timer: DueTimer, event: { type: string } & Record<string, unknown>): Promise<void> {
    const { runtime, store, ids } = this.deps;
    try {
      await runtime.send(timer.address, event, {
        metadata: {
          correlation_id: timer.correlationId ?? ids.uuid(),
          ...(timer.traceparent ? { traceparent: timer.traceparent } : {}),
        },
        firedTimer: { name: timer.name, dueAt: timer.dueAt },
      });
    } catch (error) {
      if (error instanceof AppError && (error.code === 'NOT_ALLOWED_IN_STATE' || error.status === 404)) {
        await store.deleteTimer(timer.address, timer.name, timer.dueAt);
        return;
      }
      this.deps.onError?.(timer, error);
    }
  }
}
