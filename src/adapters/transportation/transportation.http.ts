import { RetryableError } from '../errors';
import { pathSegment, type HttpClient } from '../httpClient';
import { BookedFlight, BookedTaxi, TRANSPORTATION_SERVICE, type TransportationPort } from './transportation.port';

/** The transportation service over HTTP (`client` built for the service `transportation`). */
export function createTransportationHttp(client: HttpClient): TransportationPort {
  return {
    async bookFlight(request, context) {
      const response = await client.request(
        { operation: 'bookFlight', method: 'PUT', path: '/transportation-api/flight-tickets', body: request, context },
        BookedFlight,
      );
      const asked = request.passenger_names.length;
      if (response.body.ticket_ids.length !== asked) {
        throw new RetryableError({
          service: TRANSPORTATION_SERVICE,
          operation: 'bookFlight',
          status: response.status,
          body: response.body,
          reason: 'bad_response',
          message: `${TRANSPORTATION_SERVICE}.bookFlight answered ${response.status} with ${response.body.ticket_ids.length} ticket ids for ${asked} passengers`,
        });
      }
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
