import { pathSegment, type HttpClient } from '../httpClient';
import { BookedFlight, BookedTaxi, type TransportationPort } from './transportation.port';

/** The transportation service over HTTP (`client` built for the service `transportation`). */
export function createTransportationHttp(client: HttpClient): TransportationPort {
  return {
    async bookFlight(request, context) {
      const response = await client.request(
        { operation: 'bookFlight', method: 'PUT', path: '/transportation-api/flight-tickets', body: request, context },
        BookedFlight,
      );
      return response.body;
    },
    async cancelFlightTicket(request, context) {
      await client.request({
        operation: 'cancelFlightTicket',
        method: 'DELETE',
        path: `/transportation-api/flight-tickets/${pathSegment(request.ticket_id)}`,
        context,
      });
    },
    async bookTaxi(request, context) {
      const response = await client.request(
        { operation: 'bookTaxi', method: 'PUT', path: '/transportation-api/taxi-booking', body: request, context },
        BookedTaxi,
      );
      return response.body;
    },
  };
}
