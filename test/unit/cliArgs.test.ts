import { describe, expect, it } from 'bun:test';
import { parseArgs } from '../../src/cli/args';

describe('parseArgs', () => {
  it('serves by default and on serve', () => {
    expect(parseArgs([])).toEqual({ name: 'serve' });
    expect(parseArgs(['serve'])).toEqual({ name: 'serve' });
  });

  it('knows migrate, gateway, help and version', () => {
    expect(parseArgs(['migrate']).name).toBe('migrate');
    expect(parseArgs(['gateway']).name).toBe('gateway');
    expect(parseArgs(['--help']).name).toBe('help');
    expect(parseArgs(['--version']).name).toBe('version');
  });

  it('reads the projection to rebuild', () => {
    expect(parseArgs(['projections', 'rebuild', 'opsBookings'])).toEqual({ name: 'rebuild', projection: 'opsBookings' });
    expect(parseArgs(['projections', 'rebuild']).name).toBe('unknown');
    expect(parseArgs(['projections', 'drop', 'x']).name).toBe('unknown');
  });

  it('reports an unknown command', () => {
    expect(parseArgs(['fly'])).toEqual({ name: 'unknown', problem: 'Unknown command "fly".' });
  });
});
