import { createSimulation, RecentMap, type SimulatorControls, type SimulatorDeps } from '../simulation';
import {
  FILES_OPERATIONS,
  FILES_SERVICE,
  FILES_SUCCESS_STATUSES,
  ticketFileName,
  type FilesOperation,
  type FilesPort,
} from './files.port';

/** The files service in process, with its fault injection and inspection. */
export interface FilesSimulator extends FilesPort, SimulatorControls<FilesOperation> {
  /** Content of a stored file, undefined when there is none. */
  content(fileName: string): string | undefined;
  /** Names of the stored files, in order of creation. */
  fileNames(): string[];
}

/** Stores each file once: a second put of the same name keeps the first content and answers "already exists". */
export function createFilesSimulator(deps: SimulatorDeps): FilesSimulator {
  const sim = createSimulation(FILES_SERVICE, FILES_OPERATIONS, deps, { successStatuses: FILES_SUCCESS_STATUSES });
  let files = new RecentMap<string, string>();
  sim.onReset(() => {
    files = new RecentMap();
  });

  return {
    ...sim.controls,
    putTicketFile: (request, context) => sim.run('putTicketFile', request, context, () => {
      const fileName = ticketFileName(request.ticket_id);
      if (files.has(fileName)) return { file_name: fileName, created: false };
      files.set(fileName, request.content);
      return { file_name: fileName, created: true };
    }),
    content: (fileName) => files.get(fileName),
    fileNames: () => [...files.keys()],
  };
}
