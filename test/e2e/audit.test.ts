import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { createLogger } from '../../src/observability/logger';
import { call, startTestService, type TestService } from '../support/service';

describe('audit log lines', () => {
  const lines: Array<Record<string, unknown>> = [];
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService('embedded', { logger: createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line)) }) });
  });
  afterAll(async () => {
    await t.close();
  });

  const audits = () => lines.filter((l) => l.audit === true);

  it('records registrations, failed and successful logins, without the password', async () => {
    await call(t.url, 'POST', '/api/auth/register', { email: 'Audit@Example.com', password: 'correct-Horse-9' });
    await call(t.url, 'POST', '/api/auth/login', { email: 'audit@example.com', password: 'wrong-Password-1' });
    await call(t.url, 'POST', '/api/auth/login', { email: 'audit@example.com', password: 'correct-Horse-9' }, { 'Correlation-ID': 'login-corr' });
    expect(audits().map((l) => [l.msg, l.action, l.email])).toEqual([
      ['audit', 'account.registered', 'audit@example.com'],
      ['audit', 'login.failed', 'audit@example.com'],
      ['audit', 'login.succeeded', 'audit@example.com'],
    ]);
    // Every line carries the request's correlation id, also those that do not pass it.
    expect(audits().at(-1)?.correlation_id).toBe('login-corr');
    expect(JSON.stringify(lines)).not.toContain('correct-Horse-9');
  });

  it('records refund requests with their correlation id', async () => {
    const ticketId = crypto.randomUUID();
    await call(t.url, 'PUT', `/api/ticket-refund/${ticketId}`, undefined, { 'Correlation-ID': 'audit-corr' });
    expect(audits().find((l) => l.action === 'ticket.refundRequested')).toMatchObject({ ticket_id: ticketId, correlation_id: 'audit-corr' });
  });
});
