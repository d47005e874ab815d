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

  it('reads the actor whose timeline to show', () => {
    expect(parseArgs(['actors', 'show', 'booking/0199'])).toEqual({ name: 'actor', address: 'booking/0199' });
    expect(parseArgs(['actors', 'show'])).toEqual({ name: 'unknown', problem: 'Usage: tickets actors show <address>' });
    expect(parseArgs(['actors', 'list']).name).toBe('unknown');
    expect(parseArgs(['actors', 'show', 'a/1', 'b/2']).name).toBe('unknown');
    expect(parseArgs(['actors', 'show', 'garbage'])).toEqual({ name: 'unknown', problem: '"garbage" is not an actor address: expected <kind>/<id>, e.g. booking/<uuid>' });
  });

  it('checks /health by default, or the path given', () => {
    expect(parseArgs(['healthcheck'])).toEqual({ name: 'healthcheck', path: '/health' });
    expect(parseArgs(['healthcheck', '/ready'])).toEqual({ name: 'healthcheck', path: '/ready' });
    expect(parseArgs(['healthcheck', 'ready']).name).toBe('unknown');
    expect(parseArgs(['healthcheck', '/ready', '/health']).name).toBe('unknown');
  });

  it('reads the ops account to create', () => {
    expect(parseArgs(['accounts', 'create-ops', 'ops@example.com'])).toEqual({ name: 'create-ops', email: 'ops@example.com' });
    expect(parseArgs(['accounts', 'create-ops']).name).toBe('unknown');
  });

  it('answers help to --help anywhere, and refuses arguments a command does not take', () => {
    for (const args of [['migrate', '--help'], ['gateway', '-h'], ['serve', '--help'], ['actors', 'show', '--help']]) expect(parseArgs(args)).toEqual({ name: 'help' });
    expect(parseArgs(['migrate', 'now'])).toEqual({ name: 'unknown', problem: 'Usage: tickets migrate (it takes no arguments; configuration comes from the environment)' });
    expect(parseArgs(['serve', '--port', '9000']).name).toBe('unknown');
    expect(parseArgs(['gateway', 'x']).name).toBe('unknown');
    for (const args of [['--version', 'extra'], ['-v', 'x'], ['--version', '--version']]) expect(parseArgs(args)).toEqual({ name: 'unknown', problem: 'Usage: tickets --version (it takes no arguments)' });
  });

  it('reports an unknown command', () => {
    expect(parseArgs(['fly'])).toEqual({ name: 'unknown', problem: 'Unknown command "fly".' });
  });
});
