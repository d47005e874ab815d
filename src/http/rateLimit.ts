import { Elysia } from 'elysia';
import type { Config } from '../config';
import type { Clock } from '../kernel/clock';
import { AppError } from '../kernel/errors';
import { Throttle } from '../kernel/throttle';
import type { Logger } from '../observability/logger';
import type { AuthUser } from './auth';
import { problemResponses } from './openapiProblems';
import { addResponseHeaders } from './requestContext';

/** Where the counts live: Redis in distributed mode (shared by the instances), memory in embedded mode. */
export interface RateLimitCounter {
  /** Adds one to `key` and returns its count; a new key lives `ttlMs`. */
  increment(key: string, ttlMs: number, nowMs: number): Promise<number>;
  close(): Promise<void>;
}

/** The route classes, one rule each in `config.rateLimits`. */
export type RateLimitClass = keyof Config['rateLimits'];

export interface RateLimitOptions {
  rules: Config['rateLimits'];
  counter: RateLimitCounter;
  clock: Clock;
  /** The verified caller of a request, if any: an authenticated client is counted by its user id. */
  userOf: (request: Request) => AuthUser | undefined;
  /** `TRUSTED_PROXY_HOPS`: how many `X-Forwarded-For` entries, from the right, proxies we trust wrote. */
  trustedProxyHops: number;
  logger: Logger;
}

const STORE_DOWN_LOG_EVERY_MS = 60_000;

interface SocketAddress {
  requestIP(request: Request): { address: string } | null;
}

/**
 * The part of a client's address that names the client: an IPv4 address (also written IPv4-mapped,
 * `::ffff:198.51.100.8`), or the first 64 bits of an IPv6 one, the block a provider gives one host or
 * site, which can pick a new address in it for every request. A port that a proxy wrote with it
 * (`198.51.100.8:51234`, `[2001:db8::1]:443`) is dropped: the client has a new one for every
 * connection. Anything else is taken as it is.
 */
function addressKey(written: string): string {
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(written) ?? /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/i.exec(written);
  const address = withPort ? withPort[1]! : written;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':') || !/^[0-9a-f:]+$/i.test(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const groupsOf = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':'));
  const before = groupsOf(head);
  const after = groupsOf(tail);
  // `::` stands for as many zero groups as make eight in all.
  const groups = tail === undefined ? before : [...before, ...Array<string>(Math.max(0, 8 - before.length - after.length)).fill('0'), ...after];
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * The `rateLimit` route option (STYLE.md §5): a fixed-window counter per (client, route class).
 *
 * ```ts
 * .post('/login', handler, { body: Credentials, rateLimit: 'auth' })
 * ```
 *
 * The client is the verified token's user when the request carries one (not on `auth` routes, which
 * are counted by address alone), else its IP address (the peer address, or the `X-Forwarded-For` entry
 * written by the outermost trusted proxy; an IPv6 one by its /64, see addressKey). It runs in the
 * transform phase, before validation and idempotency (and before `auth` when listed before it), so
 * invalid requests count too. Limited routes answer with `RateLimit-Policy: "<class>";q=<limit>;w=<window s>`
 * and `RateLimit: "<class>";r=<remaining>;t=<seconds to reset>` (draft-ietf-httpapi-ratelimit-headers);
 * past the limit: 429 `RATE_LIMITED` with `Retry-After`. When the counter store fails (Redis down) the
 * request is let through: an outage of Redis must not take the API down with it.
 */
export function createRateLimit(options: RateLimitOptions) {
  const { rules, counter, clock, userOf, trustedProxyHops, logger } = options;
  const storeDownLog = new Throttle(STORE_DOWN_LOG_EVERY_MS, () => clock.now().getTime());

  const clientOf = (request: Request, server: SocketAddress | null, routeClass: RateLimitClass): string => {
    // A token proves nothing about a login or a registration: counted by user, each account minted
    // would buy another round of password guesses.
    const user = routeClass === 'auth' ? undefined : userOf(request);
    if (user !== undefined) return `user:${user.id}`;
    if (trustedProxyHops > 0) {
      const forwarded = (request.headers.get('x-forwarded-for') ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
      const client = forwarded[Math.max(0, forwarded.length - trustedProxyHops)];
      if (client !== undefined) return `ip:${addressKey(client)}`;
    }
    return `ip:${addressKey(server?.requestIP(request)?.address ?? 'unknown')}`;
  };

  return new Elysia({ name: 'rate-limit' }).macro({
    rateLimit(routeClass: RateLimitClass) {
      const rule = rules[routeClass];
      const windowSeconds = Math.ceil(rule.windowMs / 1000);
      return {
        detail: { responses: problemResponses({ 429: ['RATE_LIMITED'] }) },
        async transform({ request, server }) {
          const now = clock.now().getTime();
          const window = Math.floor(now / rule.windowMs);
          const msLeft = (window + 1) * rule.windowMs - now;
          const resetSeconds = Math.max(1, Math.ceil(msLeft / 1000));
          let count: number;
          try {
            count = await counter.increment(`${routeClass}:${window}:${clientOf(request, server, routeClass)}`, msLeft, now);
          } catch (error) {
            const unlimited = storeDownLog.hit();
            if (unlimited !== undefined) logger.warn('rate limit store unavailable; requests are not limited', { unlimited_since_last_log: unlimited, err: error });
            return;
          }
          const headers = {
            'ratelimit-policy': `"${routeClass}";q=${rule.limit};w=${windowSeconds}`,
            ratelimit: `"${routeClass}";r=${Math.max(0, rule.limit - count)};t=${resetSeconds}`,
          };
          addResponseHeaders(request, headers);
          if (count > rule.limit) {
            // Thrown, not returned: a transform hook cannot answer with a Response of its own.
            throw new AppError({
              status: 429,
              code: 'RATE_LIMITED',
              detail: `Too many requests: at most ${rule.limit} per ${windowSeconds} s to this kind of route; retry in ${resetSeconds} s`,
              retryable: true,
              headers: { ...headers, 'retry-after': String(resetSeconds) },
            });
          }
        },
      };
    },
  });
}

/** The `rateLimit` macro, as features receive it. */
export type RateLimitPlugin = ReturnType<typeof createRateLimit>;

/** Counts in this process (embedded mode: one instance). Expired keys are swept once per `sweepEveryMs`. */
export function createMemoryCounter(sweepEveryMs = 60_000): RateLimitCounter {
  const counts = new Map<string, { count: number; expiresAt: number }>();
  let sweptAt = 0;
  return {
    async increment(key, ttlMs, nowMs) {
      if (nowMs - sweptAt >= sweepEveryMs) {
        sweptAt = nowMs;
        for (const [k, entry] of counts) if (entry.expiresAt <= nowMs) counts.delete(k);
      }
      const entry = counts.get(key);
      if (entry === undefined || entry.expiresAt <= nowMs) {
        counts.set(key, { count: 1, expiresAt: nowMs + ttlMs });
        return 1;
      }
      entry.count += 1;
      return entry.count;
    },
    async close() {
      counts.clear();
    },
  };
}

