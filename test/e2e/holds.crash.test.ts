import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { startGateway, type RunningGateway } from '../../src/adapters/gateway';
import type { ChargeRequest } from '../../src/adapters/payments/payments.port';
import { bearer, mintToken } from '../support/auth';
import { createTestDatabase } from '../support/postgres';
import { deleteKeys, testRedisUrl, uniquePrefix } from '../support/redis';
import { MODES, TEST_JWT_SECRET, call, eventually, type Mode } from '../support/service';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { makeTempDir } from '../support/tempDir';

/** The hold charges again this long after `hold.pay` when no outcome came (the charging process died). */
const PAYMENT_CHECK_SECONDS = 2;
/** How long the gateway holds a charge before it takes the money and answers: the window for the kill. */
const CHARGE_LATENCY_MS = 1500;
const PAYMENT_METHOD = 'pm_card_visa';
const eur = (amount: string) => ({ amount, currency: 'EUR' });

async function kill(child: ServiceProcess): Promise<void> {
  child.proc.kill('SIGKILL');
  await child.proc.exited;
}

async function deploy(mode: Mode, gateway: RunningGateway) {
  const dir = makeTempDir('tickets-holds-crash-');
  const base = {
    DATA_DIR: dir.path, GATEWAY_ADDR: gateway.url, TIMER_POLL_MS: '50', JWT_SECRET: TEST_JWT_SECRET,
    HOLD_PAYMENT_CHECK_SECONDS: String(PAYMENT_CHECK_SECONDS),
  };
  if (mode === 'embedded') return { env: base, cleanup: () => dir.cleanup() };
  const db = await createTestDatabase();
  const prefix = uniquePrefix();
  return {
    env: { ...base, POSTGRES_URL: db.url, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: prefix },
    async cleanup() {
      await db.drop();
      await deleteKeys(prefix);
      await dir.cleanup();
    },
  };
}

for (const mode of MODES) {
  describe(`holds under a crash between the charge and the sale (${mode})`, () => {
    let gateway: RunningGateway;
    let deployment: Awaited<ReturnType<typeof deploy>> | undefined;
    let child: ServiceProcess | undefined;
    const ops = bearer(mintToken({ role: 'ops' }));
    const customer = bearer(mintToken({ role: 'customer' }));
    const payments = () => gateway.simulators.payments;

    beforeAll(async () => {
      gateway = startGateway({ port: 0 });
      deployment = await deploy(mode, gateway);
      child = await startServiceProcess(deployment.env);
    });
    afterAll(async () => {
      if (child) await kill(child);
      await deployment?.cleanup();
      await gateway.stop(false);
    });

    const url = () => child!.url;
    const createEvent = async (ttlSeconds: number) => {
      const venue = await call(url(), 'POST', '/api/venues', { name: 'Olympia', location: 'Dublin' }, ops);
      expect(venue.status).toBe(201);
      const created = await call(url(), 'POST', '/api/events', {
        name: 'Night', venue_id: venue.json.venue_id, start_time: '2099-01-01T20:00:00Z',
        seats: ['A1', 'A2'].map((label) => ({ label, price: eur('25.00') })),
        hold_policy: { ttl_seconds: ttlSeconds, max_renewals: 0, max_seats_per_user: 2 },
      }, ops);
      expect(created.status).toBe(201);
      return created.json.event_id as string;
    };
    const seatOf = async (eventId: string, label: string) => {
      const event = await call(url(), 'GET', `/api/events/${eventId}`);
      expect(event.status).toBe(200);
      return (event.json.seats as Array<{ label: string; status: string }>).find((s) => s.label === label)?.status;
    };
    const confirm = (holdId: string) => call(url(), 'POST', `/api/holds/${holdId}/confirm`, { payment_method: PAYMENT_METHOD }, customer);
    const chargeCalls = (holdId: string) => payments().calls({ operation: 'charge' }).filter((c) => (c.request as ChargeRequest).payment_reference === holdId);
    const chargesOf = (holdId: string) => payments().charges().filter((c) => c.payment_reference === holdId);
    const refundsOf = (paymentId: string) => payments().refunds().filter((r) => r.payment_reference === paymentId);

    /**
     * Holds A1, confirms while the payments service is slow, and SIGKILLs the service while the charge
     * is at the gateway (received, not answered); then waits until the gateway has taken the money, as a
     * real payments service whose caller vanished would. Returns the hold and the one payment made.
     */
    const crashWhileCharging = async (eventId: string) => {
      const placed = await call(url(), 'POST', '/api/holds', { event_id: eventId, seats: ['A1'] }, customer);
      expect(placed.status).toBe(201);
      const holdId = placed.json.hold_id as string;
      payments().setLatency(CHARGE_LATENCY_MS, { operation: 'charge' });
      const confirmedAt = Date.now();
      const firstConfirm = confirm(holdId).then((r) => r.status, () => 'connection lost' as const);
      await eventually(() => expect(chargeCalls(holdId).map((c) => c.outcome)).toEqual(['pending']), 5_000, 10);
      expect(chargesOf(holdId)).toEqual([]);
      await kill(child!);
      expect(await firstConfirm).toBe('connection lost');
      const [charge] = await eventually(() => {
        const made = chargesOf(holdId);
        expect(made.length).toBe(1);
        return made;
      }, 5_000, 25);
      expect(charge).toMatchObject({ idempotency_key: `hold-${holdId}`, amount: eur('25.00'), payment_method: PAYMENT_METHOD });
      payments().setLatency(0, { operation: 'charge' });
      return { holdId, placed: placed.json as { expires_at: string }, confirmedAt, paymentId: charge!.payment_id };
    };
    const restart = async () => {
      child = await startServiceProcess(deployment!.env);
    };

    it('sells the hold after a restart, with the one charge the killed process made and no refund', async () => {
      const eventId = await createEvent(600);
      const { holdId, paymentId } = await crashWhileCharging(eventId);
      await restart();

      await eventually(async () => expect(await seatOf(eventId, 'A1')).toBe('sold'), 30_000, 50);
      const first = await confirm(holdId);
      expect(first.status).toBe(200);
      expect(first.json).toMatchObject({ booking_id: holdId, tickets: [{ seat: 'A1' }] });
      expect(first.json.tickets).toHaveLength(1);
      const again = await confirm(holdId);
      expect(again.status).toBe(200);
      expect(again.json).toEqual(first.json);

      // Let anything late (a redelivered recovery, a refund) land before counting.
      await Bun.sleep(1_000);
      expect(chargesOf(holdId).map((c) => c.payment_id)).toEqual([paymentId]);
      const calls = chargeCalls(holdId);
      // The killed process's charge and the recovery's, both with the hold's one key.
      expect(calls.length).toBeGreaterThanOrEqual(2);
      expect(new Set(calls.map((c) => (c.request as ChargeRequest).idempotency_key))).toEqual(new Set([`hold-${holdId}`]));
      expect(refundsOf(paymentId)).toEqual([]);
      expect(await seatOf(eventId, 'A1')).toBe('sold');
      expect(await seatOf(eventId, 'A2')).toBe('available');
    }, 60_000);

    it('expires the hold that ran out while the service was down, and refunds the one charge exactly once', async () => {
      const eventId = await createEvent(3);
      const { holdId, placed, confirmedAt, paymentId } = await crashWhileCharging(eventId);
      // Down until the hold has expired, so the restarted service finds it past expires_at: a confirm
      // with less than two charge windows left extends the hold to two windows after it.
      const downUntil = Math.max(Date.parse(placed.expires_at), confirmedAt + 2 * PAYMENT_CHECK_SECONDS * 1000) + 250;
      await Bun.sleep(Math.max(0, downUntil - Date.now()));
      await restart();

      await eventually(() => expect(refundsOf(paymentId)).toHaveLength(1), 30_000, 50);
      await eventually(async () => expect(await seatOf(eventId, 'A1')).toBe('available'), 10_000, 50);
      const late = await confirm(holdId);
      expect(late.status).toBe(409);
      expect(late.json.code).toBe('HOLD_EXPIRED');

      await Bun.sleep(1_000);
      expect(chargesOf(holdId).map((c) => c.payment_id)).toEqual([paymentId]);
      expect(chargeCalls(holdId).length).toBeGreaterThanOrEqual(2);
      expect(refundsOf(paymentId)).toEqual([expect.objectContaining({ payment_reference: paymentId, deduplication_id: `hold-${holdId}-${paymentId}` })]);
      expect(payments().refunds()).toHaveLength(1);
      expect(await seatOf(eventId, 'A1')).toBe('available');
      // The seat can be held again by anyone.
      const other = bearer(mintToken({ role: 'customer' }));
      expect((await call(url(), 'POST', '/api/holds', { event_id: eventId, seats: ['A1'] }, other)).status).toBe(201);
    }, 60_000);
  });
}
