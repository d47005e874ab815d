import { describe, expect, it } from 'bun:test';
import { Glob } from 'bun';
import { join } from 'node:path';
import { ALL_FACTS } from '../../src/features/dataLake';

const MACHINES = join(import.meta.dir, '../../machines');

/** The fact names a machine's source emits: every `type: '<Name>_v<N>'`. */
async function factsEmittedByMachines(): Promise<string[]> {
  const names = new Set<string>();
  for await (const file of new Glob('**/*.machine.ts').scan(MACHINES)) {
    const source = await Bun.file(join(MACHINES, file)).text();
    for (const match of source.matchAll(/type: '([A-Z][A-Za-z]*_v\d+)'/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

describe('the data lake', () => {
  it('subscribes to every fact a machine emits, so that a new fact cannot be forgotten', async () => {
    const emitted = await factsEmittedByMachines();
    // A scan that found nothing would make this test pass for nothing.
    expect(emitted).toContain('BookingMade_v1');
    expect(emitted.filter((name) => !(ALL_FACTS as readonly string[]).includes(name))).toEqual([]);
  });
});
