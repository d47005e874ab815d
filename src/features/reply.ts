import type { ActorEvent, ActorRuntime } from '../actors/runtime';
import { AppError } from '../kernel/errors';
import type { HandlerContext } from '../messaging/handlers';

/**
 * Sends a handler's reply event (`receipts.issued`, `deadNation.booked`) into an actor, carrying the
 * message's correlation id, trace context and id as causation. A reply the actor no longer accepts was
 * already applied by an earlier delivery (or has become moot), so it counts as done, not as a failure.
 */
export async function reply(runtime: ActorRuntime, address: string, event: ActorEvent, ctx: HandlerContext, create = false): Promise<void> {
  try {
    await runtime.send(address, event, {
      create,
      metadata: {
        correlation_id: ctx.correlationId,
        causation_id: ctx.messageId,
        ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
      },
    });
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE') {
      ctx.logger.debug('reply already applied', { actor: address, event: event.type });
      return;
    }
    throw error;
  }
}
