import type { ActorEvent, ActorRuntime, SendResult } from '../actors/runtime';
import type { IdempotencyHandle } from './idempotency';
import type { RequestContext } from './requestContext';

export interface CommandResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface CommandInput {
  address: string;
  event: ActorEvent;
  /** Create the actor with this event (otherwise an unknown address is 404). */
  create?: boolean;
  /** The route just minted the actor's id (see SendOptions.minted). */
  minted?: boolean;
  request: RequestContext;
  idempotency: IdempotencyHandle;
  /** The response for the accepted command; computed before commit so it is stored in the same transaction. */
  respond(result: SendResult): CommandResponse;
}

/**
 * Sends one command from a route and answers it. The idempotency record is written in the command's
 * own transaction, so a replay returns exactly what the first request answered; rejections (404, 409,
 * a refusal of an inline rule such as SOLD_OUT) propagate as AppErrors to the one error mapper.
 */
export async function sendCommand(runtime: ActorRuntime, input: CommandInput): Promise<Response> {
  let response: Response | undefined;
  await runtime.send(input.address, input.event, {
    create: input.create ?? false,
    minted: input.minted ?? false,
    metadata: {
      correlation_id: input.request.correlationId,
      traceparent: input.request.traceparent,
      ...(input.idempotency.key ? { idempotency_key: input.idempotency.key } : {}),
    },
    traceId: input.request.traceId,
    inTx: async (tx, result) => {
      const answer = input.respond(result);
      response = await input.idempotency.complete(tx, answer.status, answer.body, answer.headers);
    },
  });
  if (!response) throw new Error(`${input.address}: the command committed without a response`);
  return response;
}
