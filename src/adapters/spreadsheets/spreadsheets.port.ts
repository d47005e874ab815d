import { z } from 'zod';
import type { CallContext } from '../call';

/** Name of the service in errors, observations and the simulator's call log. */
export const SPREADSHEETS_SERVICE = 'spreadsheets';
/** Operations of the port, as named in injected faults, observations and the call log. */
export const SPREADSHEETS_OPERATIONS = ['appendRow'] as const;
export type SpreadsheetsOperation = (typeof SPREADSHEETS_OPERATIONS)[number];

/** Sheet of confirmed tickets to print. */
export const TICKETS_TO_PRINT = 'tickets-to-print';
/** Sheet of cancelled tickets to refund. */
export const TICKETS_TO_REFUND = 'tickets-to-refund';

/**
 * A value as a sheet cell that shows it as text: one starting with `=`, `+`, `-`, `@`, a tab or a
 * carriage return would be read as a formula by the people who open the sheet (OWASP "CSV injection"),
 * so it gets a leading apostrophe, which spreadsheet programs take as "text" and do not show.
 */
export const sheetText = (value: string): string => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

/** A row for `POST /spreadsheets-api/sheets/{sheet}/rows`: the sheet is the path, `columns` the body. */
export const AppendRowRequest = z.object({
  sheet: z.string().min(1),
  columns: z.array(z.string()),
});
export type AppendRowRequest = z.infer<typeof AppendRowRequest>;

/**
 * The spreadsheets service. NOT idempotent upstream: every call appends a row, so callers deduplicate
 * on their side. Failures are RetryableError or TerminalError.
 */
export interface SpreadsheetsPort {
  appendRow(request: AppendRowRequest, context: CallContext): Promise<void>;
}
