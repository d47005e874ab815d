import { describe, expect, it } from 'bun:test';
import { parseArgs } from '../../src/cli/args';

describe('parseArgs', () => {
  it('serves by default and on serve', () => {
    expect(parseArgs([])).toEqual({ name: 'serve' });
    expect(parseArgs(['serve'])).toEqual({ name: 'serve' });
  });

  it('knows migrate, help and version', () => {
    expect(parseArgs(['migrate']).name).toBe('migrate');
    expect(parseArgs(['--help']).name).toBe('help');
    expect(parseArgs(['--version']).name).toBe('version');
  });

  it('reports an unknown command', () => {
    expect(parseArgs(['fly'])).toEqual({ name: 'unknown', given: 'fly' });
  });
});
