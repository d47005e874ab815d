import type { HttpClient } from '../httpClient';
import { Charge, PAYMENTS_ERROR_CODES, type PaymentsPort } from './payments.port';

/** The payments service over HTTP (`client` built for the service `payments`). */
export function createPaymentsHttp(client: HttpClient): PaymentsPort {
  return {
    async refund(request, context) {
      await client.request({ operation: 'refund', method: 'PUT', path: '/payments-api/refunds', body: request, context });
    },
    async charge(request, context) {
      const response = await client.request(
        {
          operation: 'charge',
          method: 'PUT',
          path: '/payments-api/payments',
          body: request,
          context,
          errorCodes: PAYMENTS_ERROR_CODES.charge,
        },
        Charge,
      );
      return response.body;
    },
  };
}
