-- The booking id of each VIP bundle, written in the commit that creates the bundle. The 201 hands the
-- booking id out before the saga has made the booking, so the provider may confirm a ticket for it
-- first: the ticket is then linked to its bundle through this row, not through the booking actor.
CREATE TABLE vip_bundle_bookings (
  booking_id TEXT PRIMARY KEY,
  vip_bundle_id TEXT NOT NULL
);
INSERT INTO vip_bundle_bookings (booking_id, vip_bundle_id)
SELECT json_extract(snapshot, '$.context.bookingId'), json_extract(snapshot, '$.context.vipBundleId')
  FROM actors
 WHERE kind = 'vipBundle' AND json_extract(snapshot, '$.context.bookingId') IS NOT NULL
ON CONFLICT (booking_id) DO NOTHING;
