/**
 * Serialises work per key inside one process: commands to the same actor run one after another, so
 * they do not fight over its version; different actors run concurrently.
 */
export class Mailboxes {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `work` after every earlier piece of work for `key` has settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves when every queued piece of work has settled (used by graceful shutdown). */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  get size(): number {
    return this.tails.size;
  }
}
