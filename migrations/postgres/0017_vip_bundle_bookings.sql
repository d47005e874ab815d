-- The booking id of each VIP bundle, written in the commit that creates the bundle. The 201 hands the
-- booking id out before the saga has made the booking, so the provider may confirm a ticket for it
-- first: the ticket is then linked to its bundle through this row, not through the booking actor.
CREATE TABLE vip_bundle_bookings (
  booking_id text PRIMARY KEY,
  vip_bundle_id text NOT NULL
);
INSERT INTO vip_bundle_bookings (booking_id, vip_bundle_id)
SELECT snapshot->'context'->>'bookingId', snapshot->'context'->>'vipBundleId'
  FROM actors
 WHERE kind = 'vipBundle' AND snapshot->'context'->>'bookingId' IS NOT NULL
ON CONFLICT (booking_id) DO NOTHING;
