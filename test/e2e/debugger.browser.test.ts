import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { OPS_ACCOUNT, opsHeaders } from '../support/auth';
import { call, eventually, startTestService, type TestService } from '../support/service';
import { makeTempDir } from '../support/tempDir';

const ARTIFACTS = join(import.meta.dir, '../../test-artifacts');
const EMAIL = `debugger-${crypto.randomUUID()}@example.com`;

describe('the /debug page', () => {
  let t: TestService;
  let browser: BrowserContext;
  let page: Page;
  let bookingId: string;
  const profile = makeTempDir('tickets-chromium-');

  beforeAll(async () => {
    t = await startTestService('embedded', { env: { ...OPS_ACCOUNT } });
    const show = await call(t.url, 'POST', '/api/shows', {
      dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: '2030-06-01T20:00:00Z', title: 'Night', venue: 'Hall',
    });
    const booked = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 2, customer_email: EMAIL });
    expect(booked.status).toBe(201);
    bookingId = booked.json.booking_id;
    await eventually(async () => {
      const report = await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`, undefined, opsHeaders(t));
      expect(report.json.state).toBe('placed');
    });
    // A new empty profile (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile.path, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await profile.cleanup();
  });

  it('finds the booking, highlights its state and travels back to an earlier one', async () => {
    await page.goto(`${t.url}/debug`);
    await page.fill('#login-email', OPS_ACCOUNT.OPS_EMAIL);
    await page.fill('#login-password', OPS_ACCOUNT.OPS_PASSWORD);
    await page.click('#login-submit');
    await page.waitForSelector('#search-q', { state: 'visible' });

    await page.fill('#search-q', EMAIL);
    await page.click('#search-submit');
    await page.click(`.actor-result[data-address="booking/${bookingId}"]`);

    await page.waitForSelector('svg[data-machine="booking-v1"] g.state.active[data-state="placed"]');
    expect(await page.locator('g.state.active').count()).toBe(1);
    expect(await page.textContent('#step-state')).toBe('placed');
    expect(await page.locator('#timeline tr.fact').count()).toBeGreaterThanOrEqual(2);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'debugger-current.png'), fullPage: true });

    await page.locator('#slider').fill('0');
    await page.waitForSelector('g.state.active[data-state="placing"]');
    expect(await page.locator('g.state.active[data-state="placed"]').count()).toBe(0);
    expect(await page.textContent('#step-from')).toBe('new');
    expect(await page.textContent('#context')).toContain(EMAIL);
    await page.screenshot({ path: join(ARTIFACTS, 'debugger-step-0.png'), fullPage: true });
  }, 60_000);

  it('serves the booking timeline by booking id and by actor address', async () => {
    const byBooking = await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`, undefined, opsHeaders(t));
    const byAddress = await call(t.url, 'GET', `/api/actors/${encodeURIComponent(`booking/${bookingId}`)}/timeline`, undefined, opsHeaders(t));
    expect(byAddress.status).toBe(200);
    expect(byAddress.json.timeline).toEqual(byBooking.json.timeline);
    const kinds = new Set(byBooking.json.timeline.map((e: { kind: string }) => e.kind));
    for (const kind of ['command', 'transition', 'fact', 'delivery']) expect(kinds).toContain(kind);
    expect((await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`)).status).toBe(401);
  });
});
