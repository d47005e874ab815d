import { createSimulation, RecentMap, SIM_MEMORY, type SimulatorControls, type SimulatorDeps } from '../simulation';
import {
  SPREADSHEETS_OPERATIONS,
  SPREADSHEETS_SERVICE,
  type SpreadsheetsOperation,
  type SpreadsheetsPort,
} from './spreadsheets.port';

/** The spreadsheets service in process, with its fault injection and inspection. */
export interface SpreadsheetsSimulator extends SpreadsheetsPort, SimulatorControls<SpreadsheetsOperation> {
  /** Rows of `sheet` in order of arrival ([] for a sheet never written). */
  rows(sheet: string): string[][];
}

/** Appends every row it receives, duplicates included, as the real service does. */
export function createSpreadsheetsSimulator(deps: SimulatorDeps): SpreadsheetsSimulator {
  const sim = createSimulation(SPREADSHEETS_SERVICE, SPREADSHEETS_OPERATIONS, deps);
  let sheets = new RecentMap<string, string[][]>();
  sim.onReset(() => {
    sheets = new RecentMap();
  });

  return {
    ...sim.controls,
    appendRow: (request, context) => sim.run('appendRow', request, context, () => {
      const rows = sheets.get(request.sheet) ?? [];
      rows.push([...request.columns]);
      if (rows.length > SIM_MEMORY) rows.shift();
      sheets.set(request.sheet, rows);
    }),
    rows: (sheet) => structuredClone(sheets.get(sheet) ?? []),
  };
}
