import { z } from 'zod';
import type { CallContext } from '../call';

/** Name of the service in errors, observations and the simulator's call log. */
export const FILES_SERVICE = 'files';
/** Operations of the port, as named in injected faults, observations and the call log. */
export const FILES_OPERATIONS = ['putTicketFile'] as const;
export type FilesOperation = (typeof FILES_OPERATIONS)[number];

/** A file that already exists answers 409: a success ("already exists"), not a failure. */
export const FILES_SUCCESS_STATUSES = { putTicketFile: [409] } as const;

/** The printed ticket's file name: `<ticket_id>-ticket.html` (also `file_name` of `TicketPrinted_v1`). */
export const ticketFileName = (ticketId: string): string => `${ticketId}-ticket.html`;

/** A ticket file to store: sent as the text/plain body of `PUT /files-api/files/<ticket_id>-ticket.html/content`. */
export const PutTicketFileRequest = z.object({
  ticket_id: z.string().min(1),
  /** The HTML of the printed ticket. */
  content: z.string(),
});
export type PutTicketFileRequest = z.infer<typeof PutTicketFileRequest>;

/** Where the file is, and whether this call created it (false: it already existed, HTTP 409, a success). */
export interface StoredFile {
  file_name: string;
  created: boolean;
}

/** The files service. A file that already exists is a success; failures are RetryableError or TerminalError. */
export interface FilesPort {
  putTicketFile(request: PutTicketFileRequest, context: CallContext): Promise<StoredFile>;
}
