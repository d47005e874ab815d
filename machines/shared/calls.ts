/**
 * The call to another service whose outcome an event carries (a hold's charge, made by a route rather
 * than a handler), kept with the event in the journal so that the actor's timeline shows the call.
 * Machines do not read it.
 */
export interface CallNote {
  service: string;
  operation: string;
  started_at: string;
  /** `ok`, or why it failed (`declined`, `refused`). */
  outcome: string;
}
