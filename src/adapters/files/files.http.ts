import { pathSegment, type HttpClient } from '../httpClient';
import { FILES_SUCCESS_STATUSES, ticketFileName, type FilesPort } from './files.port';

/** The files service over HTTP (`client` built for the service `files`). */
export function createFilesHttp(client: HttpClient): FilesPort {
  return {
    async putTicketFile(request, context) {
      const fileName = ticketFileName(request.ticket_id);
      const response = await client.request({
        operation: 'putTicketFile',
        method: 'PUT',
        path: `/files-api/files/${pathSegment(fileName)}/content`,
        body: request.content,
        contentType: 'text/plain; charset=utf-8',
        context,
        successStatuses: FILES_SUCCESS_STATUSES.putTicketFile,
      });
      return { file_name: fileName, created: response.status !== 409 };
    },
  };
}
