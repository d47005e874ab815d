import { backoffMs } from './backoff';

/** The first pause after a failed step; each further failure doubles it, up to `maxBackoffMs`. */
const FIRST_BACKOFF_MS = 100;

export interface LoopOptions {
  /** One unit of work; resolves to true when more work is waiting. */
  step: () => Promise<boolean>;
  idleMs: number;
  maxBackoffMs: number;
  onError: (error: unknown, failures: number) => void;
}

/**
 * Runs `step` until stopped: again at once while it reports more work, otherwise after `idleMs` or as
 * soon as `wake()` is called; after a failure, after a capped exponential backoff with jitter, which a
 * wake does not cut short (a commit during an outage must not turn into a retry storm). Steps and
 * `exclusive` work never overlap.
 */
export class Loop {
  private running: Promise<void> | undefined;
  private stopped = false;
  private woken = false;
  private tail: Promise<unknown> = Promise.resolve();
  private sleeping: { wake: () => void; wakeable: boolean } | undefined;

  constructor(private readonly opts: LoopOptions) {}

  start(): void {
    if (this.running || this.stopped) return;
    this.running = this.run();
  }

  wake(): void {
    this.woken = true;
    if (this.sleeping?.wakeable) this.sleeping.wake();
  }

  /** Ends the loop after the step in flight and waits for any exclusive work. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeping?.wake();
    await this.running;
    await this.tail;
  }

  /** Runs `work` when no step or other exclusive work is running. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => {});
    return result;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      this.woken = false;
      try {
        const more = await this.exclusive(this.opts.step);
        failures = 0;
        if (!more && !this.woken) await this.sleep(this.opts.idleMs, true);
      } catch (error) {
        failures += 1;
        this.opts.onError(error, failures);
        await this.sleep(backoffMs(failures, FIRST_BACKOFF_MS, this.opts.maxBackoffMs), false);
      }
    }
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeping = { wake, wakeable };
    });
  }
}
