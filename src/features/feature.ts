import type { AnyElysia } from 'elysia';
import type { Store } from '../actors/ports';
import type { ActorKind } from '../actors/registry';
import type { ActorRuntime, InlineHandler } from '../actors/runtime';
import type { ExternalServices } from '../adapters';
import type { AuthPlugin, SecretHash, Tokens } from '../http/auth';
import type { createIdempotency } from '../http/idempotency';
import type { RateLimitPlugin } from '../http/rateLimit';
import type { WebhookSignaturePlugin } from '../http/webhookSignature';
import type { Clock } from '../kernel/clock';
import type { IdSource } from '../kernel/ids';
import type { DeadLetters } from '../messaging/deadLetters';
import type { Handler } from '../messaging/handlers';
import type { AnyProjection, ProjectionRunner } from '../messaging/projections';
import type { Logger } from '../observability/logger';
import type { Tracing } from '../observability/tracing';

/** What main.ts hands every feature's factories once the runtime exists. */
export interface FeatureDeps {
  runtime: ActorRuntime;
  store: Store;
  clock: Clock;
  ids: IdSource;
  tracing: Tracing;
  logger: Logger;
  idempotency: ReturnType<typeof createIdempotency>;
  services: ExternalServices;
  /** Issues and verifies access tokens. */
  tokens: Tokens;
  /** Keyed hash under the server secret, for secrets that must be recognised but never kept (a password in an idempotency fingerprint). */
  secretHash: SecretHash;
  /** The `auth: true | 'ops'` route option. */
  auth: AuthPlugin;
  /** The `rateLimit: '<class>'` route option. */
  rateLimit: RateLimitPlugin;
  /** The `signed: true` route option (webhooks signed with `WEBHOOK_SECRET`). */
  webhookSignature: WebhookSignaturePlugin;
  /** Read-your-writes for read models: `settle` waits (bounded) until one has applied every earlier commit. */
  projections: Pick<ProjectionRunner, 'settle'>;
  /**
   * Aborted when the service begins a graceful stop: a response that would never end by itself (an
   * event stream) ends then, so that the stop does not wait the whole SHUTDOWN_TIMEOUT_MS for it.
   */
  stopping: AbortSignal;
  /** Redrives a handler's dead letter of an actor's message when that cannot repeat an effect (DeadLetters.redriveIfSafe). */
  redriveIfSafe: DeadLetters['redriveIfSafe'];
  /** Marks the dead letters of a step done since as redriven (DeadLetters.settle). */
  settleDeadLetters: DeadLetters['settle'];
}

/**
 * What one feature brings to the service. The static parts (actor kinds, work inside commit
 * transactions, read models) are needed to build the runtime; routes and handlers are built from the
 * runtime afterwards. main.ts composes features; a feature never imports another one — features react
 * to each other through events and address each other's actors by address.
 */
export interface Feature {
  name: string;
  kinds?: ActorKind[];
  inline?: InlineHandler[];
  projections?: AnyProjection[];
  routes?(deps: FeatureDeps): AnyElysia;
  handlers?(deps: FeatureDeps): Handler[];
}
