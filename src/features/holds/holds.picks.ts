import type { HoldSeat } from '../../../machines/hold/hold.machine';

/**
 * The seats that quantity holds of this instance are placing right now, by event. A concurrent pick
 * passes over them, so that an on-sale's simultaneous "best available" holds take different seats
 * instead of all picking the same first free ones and all but one picking again. Only a hint: the
 * database decides in the hold's commit, and holds on other instances pick again when they collide.
 */
export function seatsBeingPlaced() {
  const byEvent = new Map<string, Map<string, number>>();
  return {
    count: (eventId: string): number => byEvent.get(eventId)?.size ?? 0,
    /**
     * The first `wanted` of `free` (free seats in order) that no other pick is placing, or, when too few
     * are left, the first `wanted` of them all (the database then decides, and the loser picks again).
     * Called right before `claim`, with no await between: the two are one step for concurrent picks.
     */
    choose(eventId: string, free: readonly HoldSeat[], wanted: number): HoldSeat[] {
      const placed = byEvent.get(eventId);
      const others = placed === undefined ? free : free.filter((seat) => seat.label === null || !placed.has(seat.label));
      return (others.length >= wanted ? others : free).slice(0, wanted);
    },
    /** Marks `labels` as being placed; the function returned unmarks them. */
    claim(eventId: string, labels: readonly string[]): () => void {
      const claimed = byEvent.get(eventId) ?? new Map<string, number>();
      byEvent.set(eventId, claimed);
      for (const label of labels) claimed.set(label, (claimed.get(label) ?? 0) + 1);
      return () => {
        for (const label of labels) {
          const left = (claimed.get(label) ?? 1) - 1;
          if (left > 0) claimed.set(label, left);
          else claimed.delete(label);
        }
        if (claimed.size === 0 && byEvent.get(eventId) === claimed) byEvent.delete(eventId);
      };
    },
  };
}
