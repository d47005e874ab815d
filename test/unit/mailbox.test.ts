import { describe, expect, it } from 'bun:test';
import { Mailboxes } from '../../src/actors/mailbox';

describe('Mailboxes', () => {
  it('runs work for one key strictly one after another', async () => {
    const mailboxes = new Mailboxes();
    const log: string[] = [];
    const job = (name: string, ms: number) => () => new Promise<string>((resolve) => {
      log.push(`start ${name}`);
      setTimeout(() => { log.push(`end ${name}`); resolve(name); }, ms);
    });
    await Promise.all([mailboxes.run('a', job('1', 20)), mailboxes.run('a', job('2', 1))]);
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('runs work for different keys concurrently', async () => {
    const mailboxes = new Mailboxes();
    const log: string[] = [];
    const job = (name: string, ms: number) => () => new Promise<void>((resolve) => {
      log.push(`start ${name}`);
      setTimeout(() => { log.push(`end ${name}`); resolve(); }, ms);
    });
    await Promise.all([mailboxes.run('a', job('a', 20)), mailboxes.run('b', job('b', 1))]);
    expect(log).toEqual(['start a', 'start b', 'end b', 'end a']);
  });

  it('keeps going after a failed piece of work and forgets idle keys', async () => {
    const mailboxes = new Mailboxes();
    const failed = mailboxes.run('a', async () => { throw new Error('boom'); });
    const next = mailboxes.run('a', async () => 'ok');
    await expect(failed).rejects.toThrow('boom');
    expect(await next).toBe('ok');
    await mailboxes.drain();
    expect(mailboxes.size).toBe(0);
  });
});
