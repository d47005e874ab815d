import { z } from 'zod';
import { NonBlankText, StartTime, WholeNumber } from '../../http/schemas';

export const CreateShowBody = z.object({
  dead_nation_id: NonBlankText(200),
  number_of_tickets: WholeNumber(1, 1_000_000),
  start_time: StartTime,
  title: NonBlankText(300),
  venue: NonBlankText(300),
});
export type CreateShowBody = z.infer<typeof CreateShowBody>;

export const CreatedShow = z.object({ show_id: z.uuid() });

export const Show = z.object({
  show_id: z.uuid(),
  dead_nation_id: z.string(),
  number_of_tickets: z.number().int(),
  available_tickets: z.number().int(),
  start_time: z.string(),
  title: z.string(),
  venue: z.string(),
});
export type Show = z.infer<typeof Show>;

