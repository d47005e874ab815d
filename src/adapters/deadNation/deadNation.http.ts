import type { HttpClient } from '../httpClient';
import type { DeadNationPort } from './deadNation.port';

/** Dead Nation over HTTP (`client` built for the service `deadNation`). */
export function createDeadNationHttp(client: HttpClient): DeadNationPort {
  return {
    async bookTickets(request, context) {
      // Dead Nation does not deduplicate: see freshConnection.
      await client.request({ operation: 'bookTickets', method: 'POST', path: '/dead-nation-api/ticket/booking', body: request, context, freshConnection: true });
    },
  };
}
