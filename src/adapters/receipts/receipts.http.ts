import type { HttpClient } from '../httpClient';
import { IssuedReceipt, type ReceiptsPort } from './receipts.port';

/** The receipts service over HTTP (`client` built for the service `receipts`). */
export function createReceiptsHttp(client: HttpClient): ReceiptsPort {
  return {
    async issueReceipt(request, context) {
      const response = await client.request(
        { operation: 'issueReceipt', method: 'PUT', path: '/receipts-api/receipts', body: request, context },
        IssuedReceipt,
      );
      return response.body;
    },
    async voidReceipt(request, context) {
      await client.request({ operation: 'voidReceipt', method: 'PUT', path: '/receipts-api/void-receipt', body: request, context });
    },
  };
}
