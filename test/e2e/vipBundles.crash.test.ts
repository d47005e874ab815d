import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { startGateway, type RunningGateway } from '../../src/adapters/gateway';
import { createTestDatabase } from '../support/postgres';
import { deleteKeys, testRedisUrl, uniquePrefix } from '../support/redis';
import { MODES, TEST_JWT_SECRET, call, eventually, type Mode } from '../support/service';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { makeTempDir } from '../support/tempDir';

const BUNDLES = 6;
const SEATS = 100;
const PASSENGERS = ['Ann Lee', 'Bob Ray'];

async function kill(child: ServiceProcess): Promise<void> {
  child.proc.kill('SIGKILL');
  await child.proc.exited;
}

async function deploy(mode: Mode, gateway: RunningGateway) {
  const dir = makeTempDir('tickets-vip-crash-');
  const base = { DATA_DIR: dir.path, GATEWAY_ADDR: gateway.url, TIMER_POLL_MS: '50' };
  if (mode === 'embedded') return { env: base, cleanup: () => dir.cleanup() };
  const db = await createTestDatabase();
  const prefix = uniquePrefix();
  return {
    env: { ...base, POSTGRES_URL: db.url, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: prefix, JWT_SECRET: TEST_JWT_SECRET },
    async cleanup() {
      await db.drop();
      await deleteKeys(prefix);
      await dir.cleanup();
    },
  };
}

for (const mode of MODES) {
  describe(`vip bundles under crashes (${mode})`, () => {
    let gateway: RunningGateway;
    let deployment: Awaited<ReturnType<typeof deploy>>;

    beforeAll(async () => {
      gateway = startGateway({ port: 0 });
      deployment = await deploy(mode, gateway);
    });
    afterAll(async () => {
      await deployment.cleanup();
      await gateway.stop(false);
    });

    it('completes or compensates every bundle after SIGKILLs mid-saga, booking nothing twice', async () => {
      const transportation = gateway.simulators.transportation;
      // Slow calls, so that the kills land while calls are out; the first three taxis refused, so that
      // bundles compensate (a refusal still in flight at a kill is lost and its retry may be accepted,
      // and bundles run concurrently, so one refusal may not survive); flight answers lost after the
      // effect, so that retries meet bookings already made. (No taxi answer is lost so: its retry would
      // meet the refusals queued below, which a service that had booked it would not answer.)
      transportation.setLatency(250);
      transportation.failNext('bookTaxi', 3, 'terminal');
      transportation.failNext('bookFlight', 2, 'retryable', { afterEffect: true });

      let child = await startServiceProcess(deployment.env);
      try {
        const show = await call(child.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: SEATS, start_time: '2099-01-01T20:00:00Z', title: 'VIP', venue: 'Hall' });
        expect(show.status).toBe(201);
        const bundles: Array<{ vip_bundle_id: string; booking_id: string }> = [];
        for (let i = 0; i < BUNDLES; i++) {
          const booked = await call(child.url, 'POST', '/api/book-vip-bundle', {
            customer_email: `vip${i}@example.com`, number_of_tickets: 2, show_id: show.json.show_id, passengers: PASSENGERS, inbound_flight_id: `FL-IN-${i}`, returned_flight_id: `FL-RET-${i}`,
          });
          expect(booked.status).toBe(201);
          bundles.push(booked.json);
        }
        for (const pause of [400, 700]) {
          await Bun.sleep(pause);
          const statuses = await Promise.all(bundles.map(async (b) => (await call(child.url, 'GET', `/api/vip-bundles/${b.vip_bundle_id}`)).json.status));
          expect(statuses).toContain('pending');
          await kill(child);
          child = await startServiceProcess(deployment.env);
        }
        // On a slow machine all three refusals above can be in flight at a kill, lost, and their retries
        // accepted: taxis asked for from now on, when nothing is killed any more, are refused too, so that
        // some bundle compensates either way (on a quick one, every taxi was asked for already).
        transportation.failNext('bookTaxi', 3, 'terminal');

        // Entries held by a killed consumer are claimed again once idle for 30 s.
        const settled = await eventually(async () => {
          const states = await Promise.all(bundles.map(async (b) => (await call(child.url, 'GET', `/api/vip-bundles/${b.vip_bundle_id}`)).json));
          for (const state of states) expect(['finalized', 'failed']).toContain(state.status);
          return states as Array<{ vip_bundle_id: string; status: string; legs: { taxi: { status: string } } }>;
        }, 120_000, 250);
        await Bun.sleep(500);

        const finalized = settled.filter((b) => b.status === 'finalized');
        const failed = settled.filter((b) => b.status === 'failed');
        expect(finalized.length + failed.length).toBe(BUNDLES);
        expect(failed.length).toBeGreaterThanOrEqual(1);
        for (const bundle of settled) {
          const id = bundle.vip_bundle_id;
          const flightTickets = transportation.flightTickets().filter((f) => f.reference_id === id);
          const taxis = transportation.taxiBookings().filter((b) => b.reference_id === id);
          // One booking per leg: never more tickets on a flight than passengers, whatever the retries.
          for (const flightId of new Set(flightTickets.map((f) => f.flight_id))) {
            expect(flightTickets.filter((f) => f.flight_id === flightId).length).toBe(PASSENGERS.length);
          }
          const keys = transportation.calls().map((c) => c.request as { reference_id?: string; idempotency_key?: string }).filter((r) => r.reference_id === id).map((r) => r.idempotency_key);
          expect([...new Set(keys)].every((key) => [`${id}-inbound`, `${id}-return`, `${id}-taxi`].includes(key!))).toBe(true);
          expect(taxis.length).toBeLessThanOrEqual(1);
          if (bundle.status === 'finalized') {
            expect(flightTickets.length).toBe(2 * PASSENGERS.length);
            expect(flightTickets.every((f) => !f.cancelled)).toBe(true);
            expect(taxis.length).toBe(1);
          } else {
            expect(flightTickets.every((f) => f.cancelled)).toBe(true);
            expect(taxis.length).toBe(0);
          }
        }
        const listed = (await call(child.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === show.json.show_id);
        expect(listed.available_tickets).toBe(SEATS - 2 * finalized.length);
        console.log(`vip crash test (${mode}): ${finalized.length} finalized, ${failed.length} compensated, ${transportation.calls().length} transportation calls`);
      } finally {
        await kill(child);
      }
    }, 180_000);
  });
}
