/**
 * Seat holds, in process, in both modes: throughput and latency of holds on distinct seats, a contention
 * check (50 concurrent holds on one seat, many rounds: exactly one 201 each), and confirms with payment.
 * Exits 1 when a check fails. `node_modules/.bin/bun bench/holds.ts [--seats 2000 --concurrency 50 --rounds 20 --confirms 300]`
 */
import { authHeaders, opsHeaders } from '../test/support/auth';
import { MODES, call, startTestService, type TestService } from '../test/support/service';
import { parseFlags } from './lib';

const flags = parseFlags({ seats: 2000, concurrency: 50, rounds: 20, confirms: 300 });

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
const summary = (latencies: number[], elapsedMs: number) => {
  const s = [...latencies].sort((a, b) => a - b);
  return `${Math.round((s.length / elapsedMs) * 1000)}/s, p50 ${pct(s, 50).toFixed(1)} ms, p99 ${pct(s, 99).toFixed(1)} ms`;
};

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

async function createEvent(t: TestService, seats: number): Promise<{ eventId: string; labels: string[] }> {
  const ops = opsHeaders(t);
  const venue = await call(t.url, 'POST', '/api/venues', { name: 'Bench hall', location: 'Here' }, ops);
  const labels = Array.from({ length: seats }, (_, i) => `S${String(i).padStart(6, '0')}`);
  const created = await call(t.url, 'POST', '/api/events', {
    name: 'Bench', venue_id: venue.json.venue_id, start_time: '2099-01-01T20:00:00Z',
    seats: labels.map((label) => ({ label, price: { amount: '10.00', currency: 'EUR' } })), hold_policy: { ttl_seconds: 600, max_seats_per_user: 10 },
  }, ops);
  if (created.status !== 201) throw new Error(`event: ${created.status} ${created.text}`);
  return { eventId: created.json.event_id, labels };
}

let failed = false;
const check = (ok: boolean, what: string) => {
  if (!ok) failed = true;
  return `${ok ? 'ok' : 'FAILED'}: ${what}`;
};

for (const mode of MODES) {
  const t = await startTestService(mode, { env: { RATE_LIMIT_HOLDS: '100000/1s', LOG_LEVEL: 'silent' } });
  try {
    const { eventId, labels } = await createEvent(t, flags.seats);
    const users = labels.map(() => authHeaders(t));

    const holdLatencies: number[] = [];
    const holdIds: Array<{ id: string; user: Record<string, string> }> = [];
    let started = performance.now();
    await pool(labels.map((label, i) => ({ label, user: users[i]! })), flags.concurrency, async ({ label, user }) => {
      const t0 = performance.now();
      const r = await call(t.url, 'POST', '/api/holds', { event_id: eventId, seats: [label] }, user);
      holdLatencies.push(performance.now() - t0);
      if (r.status === 201) holdIds.push({ id: r.json.hold_id, user });
    });
    const holdMs = performance.now() - started;

    const contention = await createEvent(t, flags.rounds);
    let exact = 0;
    const roundMs: number[] = [];
    for (const label of contention.labels) {
      const t0 = performance.now();
      const answers = await Promise.all(Array.from({ length: 50 }, () => call(t.url, 'POST', '/api/holds', { event_id: contention.eventId, seats: [label] }, authHeaders(t))));
      roundMs.push(performance.now() - t0);
      if (answers.filter((a) => a.status === 201).length === 1 && answers.filter((a) => a.status === 409).length === 49) exact++;
    }

    const confirmLatencies: number[] = [];
    let sold = 0;
    started = performance.now();
    await pool(holdIds.slice(0, flags.confirms), Math.min(flags.concurrency, 20), async ({ id, user }) => {
      const t0 = performance.now();
      const r = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, user);
      confirmLatencies.push(performance.now() - t0);
      if (r.status === 200) sold++;
    });
    const confirmMs = performance.now() - started;
    const counts = (await call(t.url, 'GET', `/api/events/${eventId}`)).json.counts;
    const charges = t.simulators.payments.charges().length;

    console.log(`\n${mode}`);
    console.log(`  holds, ${flags.seats} distinct seats, ${flags.concurrency} clients: ${summary(holdLatencies, holdMs)}`);
    console.log(`  ${check(holdIds.length === flags.seats, `${holdIds.length} of ${flags.seats} holds 201`)}`);
    console.log(`  contention, 50 on one seat × ${flags.rounds}: round p50 ${pct([...roundMs].sort((a, b) => a - b), 50).toFixed(1)} ms; ${check(exact === flags.rounds, `${exact} of ${flags.rounds} rounds exactly 1 × 201 + 49 × 409`)}`);
    console.log(`  confirms, 20 clients: ${summary(confirmLatencies, confirmMs)}; ${check(sold === Math.min(flags.confirms, holdIds.length) && charges === sold, `${sold} sold, ${charges} charges`)}`);
    console.log(`  ${check(counts.sold === sold && counts.held === holdIds.length - sold, `event counts ${JSON.stringify(counts)}`)}`);
  } finally {
    await t.close();
  }
}
process.exit(failed ? 1 : 0);
