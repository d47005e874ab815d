import { createHmac, timingSafeEqual } from 'node:crypto';
import { Elysia } from 'elysia';
import { AppError } from '../kernel/errors';
import { problemResponses } from './openapiProblems';
import { rawBodyOf } from './requestContext';

/** The request header that carries the signature of a webhook's body. */
export const WEBHOOK_SIGNATURE_HEADER = 'x-webhook-signature';

/** `sha256=` and the HMAC-SHA256 of `body` under `secret`, in lower-case hex: the header's value. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * The challenge of the webhook's 401 (RFC 9110: every 401 names one). The scheme is ours, as signed
 * webhooks have no registered one: the algorithm, and the header that carries the signature.
 */
export const WEBHOOK_CHALLENGE = 'HMAC-SHA256 realm="tickets-webhook", header="X-Webhook-Signature"';

function refused(detail: string): AppError {
  return new AppError({ status: 401, code: 'INVALID_SIGNATURE', detail, headers: { 'www-authenticate': WEBHOOK_CHALLENGE } });
}

/**
 * The `signed: true` route option, for webhooks. With a secret (`WEBHOOK_SECRET`), a request must carry
 * `X-Webhook-Signature: sha256=<hex>`, the HMAC-SHA256 of its exact body bytes under the secret, or it
 * is refused with 401 `INVALID_SIGNATURE` before its body is validated or its idempotency key claimed.
 * Without a secret the option does nothing, as in the system we replace, whose senders sign nothing.
 * Replays need no timestamp here: the webhook already requires an idempotency key.
 */
export function createWebhookSignature(secret: string | undefined) {
  return new Elysia({ name: 'webhook-signature' }).macro({
    signed(required: boolean) {
      if (!required || secret === undefined) return {};
      return {
        detail: {
          parameters: [{
            name: 'X-Webhook-Signature',
            in: 'header',
            required: true,
            description: 'sha256=<HMAC-SHA256 of the exact body under WEBHOOK_SECRET, in hex>',
            schema: { type: 'string', pattern: '^sha256=[0-9a-fA-F]{64}$' },
          }],
          responses: problemResponses({ 401: ['INVALID_SIGNATURE'] }),
        },
        // Transform runs before validation (see auth.ts); the throw is mapped by the one error mapper.
        async transform({ request }) {
          const sent = request.headers.get(WEBHOOK_SIGNATURE_HEADER);
          if (sent === null) throw refused(`This webhook must be signed: ${WEBHOOK_SIGNATURE_HEADER}: sha256=<HMAC-SHA256 of the body, hex>`);
          const expected = Buffer.from(webhookSignature(secret, await rawBodyOf(request)));
          const actual = Buffer.from(sent.trim().toLowerCase());
          if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw refused('The webhook signature does not match its body');
        },
      };
    },
  });
}

/** The `signed` macro, as features receive it. */
export type WebhookSignaturePlugin = ReturnType<typeof createWebhookSignature>;
