import { pathSegment, type HttpClient } from '../httpClient';
import type { SpreadsheetsPort } from './spreadsheets.port';

/** The spreadsheets service over HTTP (`client` built for the service `spreadsheets`). */
export function createSpreadsheetsHttp(client: HttpClient): SpreadsheetsPort {
  return {
    async appendRow(request, context) {
      await client.request({
        operation: 'appendRow',
        method: 'POST',
        path: `/spreadsheets-api/sheets/${pathSegment(request.sheet)}/rows`,
        body: { columns: request.columns },
        context,
        // The sheets do not deduplicate: see freshConnection.
        freshConnection: true,
      });
    },
  };
}
