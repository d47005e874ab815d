/**
 * Names of handlers that a feature other than their own refers to. A name is an address, as an actor's
 * is: the dead letters, the inbox and the consumer groups are keyed by it.
 */

/** The shows feature's handler that places a booking with Dead Nation; a VIP bundle's step check redrives it. */
export const BOOK_AT_DEAD_NATION_HANDLER = 'bookAtDeadNation';
