import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page, type Route } from 'playwright-core';
import { OPS_ACCOUNT, opsHeaders, registerCustomer } from '../support/auth';
import { call, eventually, startTestService, type TestService } from '../support/service';
import { makeTempDir } from '../support/tempDir';

const ARTIFACTS = join(import.meta.dir, '../../test-artifacts');
const EMAIL = `debugger-${crypto.randomUUID()}@example.com`;
// Operator configuration the page must carry as text: a quote and a script end tag in it change nothing.
const TRACE_UI_URL = "https://trace.example/t/it's</script><script>alert(1)</script>?id=";

describe('the /debug page', () => {
  let t: TestService;
  let browser: BrowserContext;
  let page: Page;
  let bookingId: string;
  let vipBundleAddress: string;
  const dialogs: string[] = [];
  const policyViolations: string[] = [];
  const profile = makeTempDir('tickets-chromium-');

  beforeAll(async () => {
    t = await startTestService('embedded', { env: { ...OPS_ACCOUNT, HANDLER_RETRY_ATTEMPTS: '5', TRACE_UI_URL } });
    const show = await call(t.url, 'POST', '/api/shows', {
      dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: '2030-06-01T20:00:00Z', title: 'Night', venue: 'Hall',
    });
    // Dead Nation fails every attempt of the retry budget (5 here), so the booking waits in `placing` with a dead letter.
    t.simulators.controls('deadNation').failNext('bookTickets', 5, 'retryable');
    const booked = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 2, customer_email: EMAIL });
    expect(booked.status).toBe(201);
    bookingId = booked.json.booking_id;
    await eventually(async () => {
      const report = await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`, undefined, opsHeaders(t));
      expect(report.json.timeline.filter((e: { kind: string }) => e.kind === 'dead_letter').length).toBe(1);
    });
    // A new empty profile (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile.path, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) policyViolations.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await profile.cleanup();
  });

  const timelineOf = async () => (await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`, undefined, opsHeaders(t))).json;
  const row = (kind: string, handler?: string) => page.locator(`#timeline tr[data-kind="${kind}"]${handler ? `[data-handler="${handler}"]` : ''}`);
  const openActor = async (address: string) => {
    await page.goto(`${t.url}/debug?actor=${encodeURIComponent(address)}`);
    await page.locator('#actor-title', { hasText: address }).waitFor();
    await page.locator('#timeline tr').first().waitFor();
  };
  const actorState = async (address: string) =>
    (await call(t.url, 'GET', `/api/actors/${encodeURIComponent(address)}/timeline`, undefined, opsHeaders(t))).json.state as string;
  /** Tickets as the ticket-status webhook reports them; each one becomes a `ticket/<id>` actor. */
  const createTickets = async (count: number, customerEmail: string) => {
    const tickets = Array.from({ length: count }, () => ({
      ticket_id: crypto.randomUUID(), booking_id: '', status: 'confirmed', price: { amount: '50.30', currency: 'GBP' }, customer_email: customerEmail,
    }));
    expect((await call(t.url, 'POST', '/api/tickets-status', { tickets }, { 'Idempotency-Key': crypto.randomUUID() })).status).toBe(200);
    return tickets.map((x) => x.ticket_id);
  };

  it('finds the booking, highlights its state and shows its failed calls and dead letter', async () => {
    await page.goto(`${t.url}/debug`);
    await page.fill('#login-email', OPS_ACCOUNT.OPS_EMAIL);
    await page.fill('#login-password', OPS_ACCOUNT.OPS_PASSWORD);
    await page.click('#login-submit');
    await page.waitForSelector('#search-q', { state: 'visible' });

    await page.fill('#search-q', EMAIL);
    await page.click('#search-submit');
    await page.click(`.actor-result[data-address="booking/${bookingId}"]`);

    await page.waitForSelector('svg[data-machine="booking-v1"] g.state.active[data-state="placing"]');
    expect(await page.locator('g.state.active').count()).toBe(1);
    expect(await page.locator('svg[data-machine="booking-v1"] g.state').count()).toBe(6);
    expect(await page.locator('svg[data-machine="booking-v1"] path.edge').count()).toBe(6);
    expect(await page.textContent('#step-state')).toBe('placing');
    expect(await row('delivery.failed', 'bookAtDeadNation').count()).toBe(5);
    expect(await row('external.call', 'bookAtDeadNation').getAttribute('data-status')).toBe('failed');
    expect(await row('dead_letter', 'bookAtDeadNation').count()).toBe(1);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'debugger-dead-letter.png'), fullPage: true });
  }, 60_000);

  it('links trace ids to TRACE_UI_URL exactly as configured, running nothing in it', async () => {
    const href = await page.locator('#timeline a.trace').first().getAttribute('href');
    expect(href).toStartWith(TRACE_UI_URL);
    expect(href!.slice(TRACE_UI_URL.length)).toMatch(/^[0-9a-f]{32}$/);
    expect(dialogs).toEqual([]);
  });

  it('names the open actor in the tab title', async () => {
    expect(await page.title()).toContain(`booking/${bookingId}`);
  });

  it('follows the booking live when ops redrive its dead letter', async () => {
    const letters = await call(t.url, 'GET', '/api/ops/dead-letters?status=dead', undefined, opsHeaders(t));
    const letter = letters.json.find((l: { handler: string }) => l.handler === 'bookAtDeadNation');
    const steps = await page.locator('#slider').getAttribute('max');

    const redriven = await call(t.url, 'POST', `/api/ops/dead-letters/${letter.id}/retry`, undefined, opsHeaders(t));
    expect(redriven.status).toBe(200);

    // No reload: the server-sent `changed` event makes the page fetch the new report.
    await page.waitForSelector('g.state.active[data-state="placed"]', { timeout: 10_000 });
    expect(await page.locator('g.state.active').count()).toBe(1);
    expect(await page.textContent('#step-state')).toBe('placed');
    expect(Number(await page.locator('#slider').getAttribute('max'))).toBe(Number(steps) + 1);
    expect(await page.locator('path.edge.taken[data-event="deadNation.booked"]').count()).toBe(1);
    await page.waitForSelector('#timeline tr[data-kind="external.call"][data-handler="bookAtDeadNation"][data-status="ok"]', { timeout: 10_000 });
    expect(await row('external.call', 'bookAtDeadNation').count()).toBe(1);
    expect(await row('dead_letter', 'bookAtDeadNation').getAttribute('data-status')).toBe('redriven');
    await page.screenshot({ path: join(ARTIFACTS, 'debugger-current.png'), fullPage: true });
  }, 60_000);

  it('travels back to an earlier step and diffs the context of two steps', async () => {
    // The last step (deadNation.booked) changed no context; the first one filled it in.
    expect(await page.textContent('#diff')).toContain('no change');
    await page.selectOption('#diff-base', 'initial');
    await page.waitForSelector('#diff .diff-add');
    expect(await page.locator('#diff .diff-add', { hasText: `customerEmail: "${EMAIL}"` }).count()).toBe(1);
    expect(await page.locator('#diff .diff-del', { hasText: 'customerEmail: ""' }).count()).toBe(1);
    await page.selectOption('#diff-base', 'previous');

    await page.locator('#slider').fill('0');
    await page.waitForSelector('g.state.active[data-state="placing"]');
    expect(await page.locator('g.state.active[data-state="placed"]').count()).toBe(0);
    expect(await page.textContent('#step-from')).toBe('new');
    expect(await page.textContent('#context')).toContain(EMAIL);
    expect(await page.locator('#diff .diff-add', { hasText: `bookingId: "${bookingId}"` }).count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'debugger-step-0.png'), fullPage: true });
  }, 60_000);

  it('serves the booking timeline by booking id and by actor address', async () => {
    const byBooking = await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`, undefined, opsHeaders(t));
    const byAddress = await call(t.url, 'GET', `/api/actors/${encodeURIComponent(`booking/${bookingId}`)}/timeline`, undefined, opsHeaders(t));
    expect(byAddress.status).toBe(200);
    expect(byAddress.json.timeline).toEqual(byBooking.json.timeline);
    const kinds = new Set(byBooking.json.timeline.map((e: { kind: string }) => e.kind));
    // Every handler of a booking's facts is external (calls); local deliveries are covered by the unit tests.
    for (const kind of ['command', 'transition', 'fact', 'delivery.failed', 'external.call', 'dead_letter']) expect(kinds).toContain(kind);
    const calls = (await timelineOf()).timeline.filter((e: { kind: string; handler?: string }) => e.kind === 'external.call' && e.handler === 'bookAtDeadNation');
    expect(calls).toEqual([expect.objectContaining({ status: 'ok', attempts: 6, correlation_id: expect.any(String), trace_id: expect.any(String) })]);
    const failures = (await timelineOf()).timeline.filter((e: { kind: string }) => e.kind === 'delivery.failed');
    expect(failures.map((e: { attempts: number }) => e.attempts)).toEqual([1, 2, 3, 4, 5]);
    expect((await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`)).status).toBe(401);
  });

  it('shows when a step scheduled a timer and when a later one cancelled it', async () => {
    const show = await call(t.url, 'POST', '/api/shows', {
      dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: '2030-06-01T20:00:00Z', title: 'VIP night', venue: 'Hall',
    });
    const bundle = await call(t.url, 'POST', '/api/book-vip-bundle', {
      customer_email: EMAIL, number_of_tickets: 2, show_id: show.json.show_id, passengers: ['Ann Lee', 'Bob Ray'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1',
    });
    expect(bundle.status).toBe(201);
    vipBundleAddress = `vipBundle/${bundle.json.vip_bundle_id}`;
    const address = encodeURIComponent(vipBundleAddress);
    const report = await eventually(async () => {
      const r = (await call(t.url, 'GET', `/api/actors/${address}/timeline`, undefined, opsHeaders(t))).json;
      expect(r.state).toBe('finalized');
      return r;
    });
    const timers = report.timeline.filter((e: { kind: string }) => e.kind.startsWith('timer.'));
    // The deadline, and the step check that each of the four steps sets anew (replacing the one before).
    expect(timers.map((e: { kind: string; name: string; status?: string }) => [e.kind, e.name, e.status ?? null])).toEqual([
      ['timer.scheduled', 'deadline', 'cancelled'],
      ['timer.scheduled', 'stepCheck', 'replaced'],
      ['timer.scheduled', 'stepCheck', 'replaced'],
      ['timer.scheduled', 'stepCheck', 'replaced'],
      ['timer.scheduled', 'stepCheck', 'cancelled'],
      ['timer.cancelled', 'deadline', null],
      ['timer.cancelled', 'stepCheck', null],
    ]);
    expect(timers[0]).toMatchObject({ step: 0, due_at: report.steps[0].context.deadlineAt, correlation_id: expect.any(String) });
    expect(timers[1]).toMatchObject({ step: 0, due_at: report.steps[0].context.stepCheck.at });
    expect(timers.at(-1).step).toBe(report.steps.length - 1);
  });

  it('lays out every machine with dagre for the page', async () => {
    const layout = await call(t.url, 'GET', '/api/machines/booking-v1/layout', undefined, opsHeaders(t));
    expect(layout.status).toBe(200);
    expect(layout.json.nodes.map((n: { path: string }) => n.path)).toEqual(['new', 'placing', 'placed', 'refused', 'failed', 'canceled']);
    expect((await call(t.url, 'GET', '/api/machines/nope-v1/layout', undefined, opsHeaders(t))).status).toBe(404);
    expect((await call(t.url, 'GET', '/api/machines/booking-v1/layout')).status).toBe(401);
  });

  it('fits the window width on a desktop and on a phone, scrolling wide content in its own box', async () => {
    try {
      for (const address of [`booking/${bookingId}`, vipBundleAddress]) {
        await openActor(address);
        for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
          await page.setViewportSize(viewport);
          const [scrollWidth, innerWidth] = await page.locator('html').evaluate((html) => [html.scrollWidth, html.ownerDocument.defaultView!.innerWidth]);
          expect({ address, ...viewport, overflow: Math.max(0, scrollWidth! - innerWidth!) }).toEqual({ address, ...viewport, overflow: 0 });
          // On a phone the sidebar goes above the content instead of beside it.
          expect((await page.locator('#chart').boundingBox())!.width).toBeGreaterThan(innerWidth! / 2);
        }
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 1000 });
    }
  }, 60_000);

  it('brings the current step into view when the slider moves', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await openActor(vipBundleAddress);
      // Not scrolled out of its box nor out of the window: the row is what is drawn at its centre.
      const currentRowVisible = () => page.locator('#timeline tr.current').first().evaluate((row) => {
        const box = row.getBoundingClientRect();
        const hit = row.ownerDocument.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        return hit !== null && row.contains(hit);
      });
      const last = await page.locator('#slider').getAttribute('max');
      for (const step of ['0', last!, '0']) {
        await page.locator('#slider').fill(step);
        await page.locator('#step-index', { hasText: new RegExp(`^${Number(step) + 1}/`) }).waitFor();
        expect({ step, visible: await currentRowVisible() }).toEqual({ step, visible: true });
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 1000 });
    }
  }, 60_000);

  it('says when the live stream breaks, and shows what changed meanwhile once it is back', async () => {
    const [ticketId] = await createTickets(1, `live-${crypto.randomUUID()}@example.com`);
    const address = `ticket/${ticketId}`;
    await eventually(async () => expect(await actorState(address)).toBe('active'));
    // Every stream the page opens ends at once, as when the service restarts: EventSource tries again (in 100 ms).
    const broken = (route: Route) =>
      route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: 'retry: 100\n\n' });
    await page.route('**/events?*', broken);
    try {
      await openActor(address);
      await page.waitForSelector('#stream-status[data-state="reconnecting"]');
      expect(await page.textContent('#stream-status')).toBe('live updates interrupted, reconnecting…');

      expect((await call(t.url, 'PUT', `/api/ticket-refund/${ticketId}`)).status).toBe(202);
      await eventually(async () => expect(await actorState(address)).toBe('refunded'));
      expect(await page.textContent('#actor-title')).toContain('active');
    } finally {
      await page.unroute('**/events?*', broken);
    }
    // The stream that opens now starts at the refunded version: only its `ready` tells the page to look again.
    await page.locator('#actor-title', { hasText: 'refunded' }).waitFor({ timeout: 10_000 });
    await page.waitForSelector('#stream-status[data-state="live"]');
  }, 60_000);

  it('pages through more than one page of actors with More', async () => {
    const email = `many-${crypto.randomUUID()}@example.com`;
    await createTickets(55, email);
    await eventually(async () => {
      const found = await call(t.url, 'GET', `/api/actors?q=${encodeURIComponent(email)}&limit=100`, undefined, opsHeaders(t));
      // Settled (confirmed, receipt issued, printed): an actor that changes while the page walks the list moves to its front and is missed.
      expect(found.json.filter((a: { version: number }) => a.version === 3).length).toBe(55);
    });
    await page.fill('#search-q', email);
    await page.click('#search-submit');
    const results = page.locator('#results .actor-result');
    await results.nth(49).waitFor();
    expect(await results.count()).toBe(50);
    expect(await page.isVisible('#more')).toBe(true);
    await page.click('#more');
    await results.nth(54).waitFor();
    expect(await results.count()).toBe(55);
    expect(await page.isHidden('#more')).toBe(true);
    const addresses = await results.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-address')));
    expect(new Set(addresses).size).toBe(55);
  }, 60_000);

  it('opens a search result from the keyboard', async () => {
    const results = page.locator('#results .actor-result');
    await page.focus('#search-submit');
    await page.keyboard.press('Tab');
    const first = await results.nth(0).getAttribute('data-address');
    expect(await page.locator(':focus').getAttribute('data-address')).toBe(first);
    await page.keyboard.press('Enter');
    await page.locator('#actor-title', { hasText: first! }).waitFor();

    const second = await results.nth(1).getAttribute('data-address');
    await results.nth(1).focus();
    await page.keyboard.press(' ');
    await page.locator('#actor-title', { hasText: second! }).waitFor();
  }, 60_000);

  it('gives every form control an accessible name', async () => {
    const ids = ['login-email', 'login-password', 'search-q', 'search-kind', 'search-state', 'machine-select', 'slider', 'diff-base', 'live'];
    const named = [];
    for (const id of ids) {
      const ariaLabel = (await page.getAttribute(`#${id}`, 'aria-label')) ?? '';
      const label = (await page.locator(`label:has(#${id}), label[for="${id}"]`).allTextContents()).join('');
      named.push([id, (ariaLabel + label).trim() !== '']);
    }
    expect(named).toEqual(ids.map((id) => [id, true]));
  });

  it('shows who is logged in and lets a customer, who may not use the page, log out', async () => {
    const customer = await registerCustomer(t.url);
    const other = await browser.newPage();
    try {
      await other.goto(`${t.url}/debug`);
      await other.fill('#login-email', customer.email);
      await other.fill('#login-password', customer.password);
      await other.click('#login-submit');
      await other.locator('#error', { hasText: 'ops role' }).waitFor();
      expect(await other.textContent('#who')).toBe(customer.email);

      // Readable on the dark header: WCAG contrast of at least 4.5:1.
      const text = await other.locator('#error').evaluate((e) => e.ownerDocument.defaultView!.getComputedStyle(e).color);
      const background = await other.locator('header').evaluate((e) => e.ownerDocument.defaultView!.getComputedStyle(e).backgroundColor);
      expect(contrast(text, background)).toBeGreaterThanOrEqual(4.5);

      await other.click('#logout');
      await other.waitForSelector('#login-form', { state: 'visible' });
      expect(await other.isHidden('#app')).toBe(true);
      expect(await other.textContent('#who')).toBe('');
      expect(await other.evaluate('sessionStorage.getItem("debugger.token")')).toBeNull();
    } finally {
      await other.close();
    }
  }, 60_000);

  // Last: after every test above used the page, none of it was refused by the page's own policy.
  it('does all of the above within its Content-Security-Policy', () => {
    expect(policyViolations).toEqual([]);
  });
});

/** WCAG 2 contrast ratio of two opaque CSS `rgb(…)` colours. */
function contrast(a: string, b: string): number {
  const luminance = (color: string) => {
    const [r, g, bl] = color.match(/\d+(\.\d+)?/g)!.slice(0, 3).map((c) => {
      const v = Number(c) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light! + 0.05) / (dark! + 0.05);
}
