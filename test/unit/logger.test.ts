import { describe, expect, it } from 'bun:test';
import { stdoutLines, type LineSink } from '../../src/observability/logger';

/** A stdout whose reader takes what is written only when told to, or has gone away. */
function slowReader() {
  const unread: Array<{ text: string; done: () => void }> = [];
  const read: string[] = [];
  let fail: ((error: unknown) => void) | undefined;
  const sink: LineSink = {
    write(text, done) {
      unread.push({ text, done });
      return false;
    },
    on(_event, listener) {
      fail = listener;
    },
  };
  return {
    sink,
    read,
    readAll() {
      for (const { text, done } of unread.splice(0)) {
        read.push(text);
        done();
      }
    },
    goAway() {
      fail?.(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  };
}

describe('log lines on stdout', () => {
  it('drops lines once too much waits for a reader that stopped reading, then says how many', () => {
    const reader = slowReader();
    const write = stdoutLines(reader.sink, 25);
    for (const n of [1, 2, 3, 4, 5]) write(`line ${n}`);
    reader.readAll();
    write('line 6');
    reader.readAll();

    expect(reader.read.slice(0, 4)).toEqual(['line 1\n', 'line 2\n', 'line 3\n', 'line 4\n']);
    expect(JSON.parse(reader.read[4]!)).toMatchObject({ level: 'warn', msg: 'log lines dropped: stdout was not read for a while', dropped_lines: 1 });
    expect(reader.read[5]).toBe('line 6\n');
  });

  it('writes nothing more, and throws nothing, once the reader went away (EPIPE)', () => {
    const reader = slowReader();
    const write = stdoutLines(reader.sink);
    write('before');
    reader.readAll();
    reader.goAway();

    expect(() => write('after')).not.toThrow();
    reader.readAll();
    expect(reader.read).toEqual(['before\n']);
  });
});
