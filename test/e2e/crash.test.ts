import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../src/adapters/gateway';
import type { Store } from '../../src/actors/ports';
import { openPostgresStore } from '../../src/store/postgres';
import { openSqliteStore } from '../../src/store/sqlite';
import { createTestDatabase } from '../support/postgres';
import { deleteKeys, startRedisServer, testRedisUrl, uniquePrefix, type RedisServer } from '../support/redis';
import { TEST_JWT_SECRET, eventually, type Mode } from '../support/service';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { makeTempDir } from '../support/tempDir';

const KILLS = 20;
const price = { amount: '12.50', currency: 'EUR' };

/** Where one deployment keeps its state, and how the test reads it after the fact. */
interface Deployment {
  env: Record<string, string>;
  openStore(): Promise<Store>;
  cleanup(): Promise<void>;
}

async function deploy(mode: Mode, gateway: RunningGateway, redisUrl = testRedisUrl()): Promise<Deployment> {
  const dir = makeTempDir('tickets-crash-');
  const base = { DATA_DIR: dir.path, GATEWAY_ADDR: gateway.url, LOG_LEVEL: 'info', TIMER_POLL_MS: '50' };
  if (mode === 'embedded') {
    return {
      env: base,
      openStore: () => openSqliteStore({ path: join(dir.path, 'tickets.db') }),
      cleanup: () => dir.cleanup(),
    };
  }
  const db = await createTestDatabase();
  const prefix = uniquePrefix();
  return {
    env: { ...base, POSTGRES_URL: db.url, REDIS_ADDR: redisUrl, REDIS_KEY_PREFIX: prefix, JWT_SECRET: TEST_JWT_SECRET },
    openStore: () => openPostgresStore({ url: db.url, poolSize: 2 }),
    async cleanup() {
      await db.drop();
      await deleteKeys(prefix, redisUrl);
      await dir.cleanup();
    },
  };
}

/**
 * A stream of webhook commands, one new confirmed ticket each, against whichever instance is current.
 * A request cut by a kill is retried with its key; one whose key the dead instance still holds
 * (409 REQUEST_IN_PROGRESS) is abandoned — whether it committed is read from the log afterwards.
 */
class Load {
  readonly accepted = new Set<string>();
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(private readonly target: () => string, concurrency = 4) {
    this.workers = Array.from({ length: concurrency }, () => this.work());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    while (this.running) {
      const ticketId = crypto.randomUUID();
      const key = crypto.randomUUID();
      const body = JSON.stringify({ tickets: [{ ticket_id: ticketId, booking_id: '', status: 'confirmed', price, customer_email: 'crash@example.com' }] });
      while (this.running) {
        const status = await fetch(`${this.target()}/api/tickets-status`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'Idempotency-Key': key },
          body,
          signal: AbortSignal.timeout(3_000),
        }).then((r) => r.status, () => 0);
        if (status === 200) this.accepted.add(ticketId);
        if (status === 200 || status === 409) break;
        await Bun.sleep(50);
      }
    }
  }
}

async function count(store: Store, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await store.query<{ n: number }>(sql, params);
  return Number(row?.n ?? 0);
}

/**
 * After the storm: every committed fact reached every handler, local effects happened exactly once,
 * external effects at least once where the service deduplicates and at most once where it does not
 * (a call a kill interrupted is dead-lettered for ops), and nothing is left in the outbox.
 */
async function expectConverged(store: Store, gateway: RunningGateway, service: ServiceProcess, accepted: Set<string>) {
  const confirmedRows = await store.query<{ id: string; data: string }>("SELECT id, data FROM messages WHERE name = 'TicketBookingConfirmed_v1'");
  const ticketOf = new Map(confirmedRows.map((r) => [r.id, (JSON.parse(String(r.data)) as { ticket_id: string }).ticket_id]));
  const confirmed = new Set(ticketOf.values());
  for (const id of accepted) expect(confirmed.has(id)).toBe(true);
  expect(confirmed.size).toBeGreaterThan(0);

  await eventually(async () => {
    const facts = await count(store, "SELECT COUNT(*) AS n FROM messages WHERE kind = 'event'");
    expect(await count(store, "SELECT COUNT(*) AS n FROM messages WHERE name = 'TicketReceiptIssued_v1'")).toBe(confirmed.size);
    expect(await count(store, "SELECT COUNT(*) AS n FROM messages WHERE name = 'TicketPrinted_v1'")).toBe(confirmed.size);
    // Local effects, exactly once: one data-lake row per fact (the data lake projection) and one list row per ticket.
    expect(await count(store, 'SELECT COUNT(*) AS n FROM data_lake')).toBe(facts);
    expect(await count(store, 'SELECT COUNT(*) AS n FROM (SELECT message_id FROM data_lake GROUP BY message_id HAVING COUNT(*) > 1) d')).toBe(0);
    expect(await count(store, 'SELECT COUNT(*) AS n FROM tickets_list')).toBe(confirmed.size);
    // Delivered to every handler; the sheet's handler may instead have dead-lettered a call that a kill interrupted.
    for (const handler of ['issueReceipt', 'printTicket']) {
      expect(await count(store, 'SELECT COUNT(*) AS n FROM inbox WHERE handler = $1', [handler])).toBe(confirmed.size);
    }
    const interrupted = await store.query<{ message_id: string; error: string }>("SELECT message_id, error FROM dead_letters WHERE handler = 'appendToPrintSheet' AND status = 'dead'");
    for (const letter of interrupted) expect(letter.error).toContain('not retried: the call may have taken effect');
    const interruptedTickets = new Set(interrupted.map((letter) => ticketOf.get(letter.message_id)));
    expect(await count(store, "SELECT COUNT(*) AS n FROM inbox WHERE handler = 'appendToPrintSheet'")).toBe(confirmed.size - interruptedTickets.size);
    expect(await count(store, 'SELECT COUNT(*) AS n FROM dead_letters')).toBe(interrupted.length);
    // External effects: receipts at least once (they deduplicate by key); the sheet, which does not, at most
    // once, and exactly once unless the call was interrupted and is waiting for ops.
    const receipted = new Set(gateway.simulators.calls({ service: 'receipts' }).map((c) => (c.request as { ticket_id: string }).ticket_id));
    const rows = gateway.simulators.calls({ service: 'spreadsheets' }).map((c) => String((c.request as { columns: string[] }).columns[0]));
    expect(rows.length).toBe(new Set(rows).size);
    for (const id of confirmed) {
      expect(receipted.has(id)).toBe(true);
      if (!interruptedTickets.has(id)) expect(rows).toContain(id);
    }
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/^outbox_depth 0$/m);
  }, 120_000, 250);

  const rows = gateway.simulators.calls({ service: 'spreadsheets' }).length;
  const interrupted = await count(store, "SELECT COUNT(*) AS n FROM dead_letters WHERE handler = 'appendToPrintSheet'");
  console.log(`crash test: ${confirmed.size} tickets committed, ${accepted.size} acknowledged, ${rows} sheet rows, ${interrupted} interrupted sheet calls dead-lettered`);
}

for (const mode of ['embedded', 'distributed'] as const) {
  describe(`delivery under crashes (${mode})`, () => {
    let gateway: RunningGateway;
    let deployment: Deployment;

    beforeAll(async () => {
      gateway = startGateway({ port: 0 });
      deployment = await deploy(mode, gateway);
    });
    afterAll(async () => {
      await deployment.cleanup();
      await gateway.stop(false);
    });

    it(`loses nothing and applies local effects once through ${KILLS} SIGKILLs under load`, async () => {
      let current = await startServiceProcess(deployment.env);
      const load = new Load(() => current.url);
      for (let kill = 0; kill < KILLS; kill++) {
        await Bun.sleep(150 + Math.random() * 450);
        current.proc.kill('SIGKILL');
        await current.proc.exited;
        current = await startServiceProcess(deployment.env);
      }
      await Bun.sleep(500);
      await load.stop();
      const store = await deployment.openStore();
      try {
        await expectConverged(store, gateway, current, load.accepted);
      } finally {
        await store.close();
        await current.stop('SIGTERM');
      }
    }, 300_000);
  });
}

describe('delivery through a Redis outage (distributed)', () => {
  let gateway: RunningGateway;
  let redis: RedisServer;
  let deployment: Deployment;

  beforeAll(async () => {
    gateway = startGateway({ port: 0 });
    redis = await startRedisServer();
    deployment = await deploy('distributed', gateway, redis.url);
  });
  afterAll(async () => {
    redis.resume();
    await deployment.cleanup();
    await redis.stop();
    await gateway.stop(false);
  });

  it('keeps accepting while Redis is unreachable and delivers everything once it is back', async () => {
    const service = await startServiceProcess(deployment.env);
    const load = new Load(() => service.url, 2);
    await Bun.sleep(500);
    redis.pause();
    const acceptedBefore = load.accepted.size;
    await Bun.sleep(3_000);
    expect(load.accepted.size).toBeGreaterThan(acceptedBefore);
    const duringOutage = await (await fetch(`${service.url}/ready`)).json() as { code?: string };
    expect(duringOutage.code).toBe('NOT_READY');
    redis.resume();
    await Bun.sleep(500);
    await load.stop();
    const store = await deployment.openStore();
    try {
      await expectConverged(store, gateway, service, load.accepted);
    } finally {
      await store.close();
      await service.stop('SIGTERM');
    }
  }, 300_000);
});
