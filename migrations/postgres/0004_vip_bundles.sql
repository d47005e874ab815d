-- Tickets the provider confirmed for the booking of a VIP bundle, so that compensating the bundle refunds
-- every one of them; a ticket confirmed after compensation began is refunded by the handler that records it.
CREATE TABLE vip_bundle_tickets (
  ticket_id text PRIMARY KEY,
  vip_bundle_id text NOT NULL,
  booking_id text NOT NULL,
  confirmed_at text NOT NULL
);
CREATE INDEX vip_bundle_tickets_bundle ON vip_bundle_tickets (vip_bundle_id, ticket_id);
