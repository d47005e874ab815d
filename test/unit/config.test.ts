import { describe, expect, it } from 'bun:test';
import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  describe('when nothing is set', () => {
    it('runs embedded on port 8080 with data in ./data', () => {
      const config = loadConfig({});
      expect(config.mode).toBe('embedded');
      expect(config.port).toBe(8080);
      expect(config.dataDir).toBe('./data');
      expect(config.logLevel).toBe('info');
      expect(Object.isFrozen(config)).toBe(true);
    });
  });

  describe('when Postgres and Redis are set', () => {
    it('runs distributed', () => {
      const config = loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: '127.0.0.1:6379' });
      expect(config.mode).toBe('distributed');
      expect(config.redisAddr).toBe('127.0.0.1:6379');
    });
  });

  describe('when a value is bad', () => {
    it('names the variable in the error', () => {
      expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
      expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
      expect(() => loadConfig({ GATEWAY_ADDR: 'not a url' })).toThrow(/GATEWAY_ADDR/);
      expect(() => loadConfig({ OPS_EMAIL: 'ops@example.com', OPS_PASSWORD: 'short' })).toThrow(/OPS_PASSWORD/);
    });

    it('refuses half a distributed configuration', () => {
      expect(() => loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db' })).toThrow(ConfigError);
    });

    it('treats an empty variable as unset', () => {
      expect(loadConfig({ PORT: '' }).port).toBe(8080);
    });
  });
});
