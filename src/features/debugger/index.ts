import type { Feature } from '../feature';
import { debuggerRoutes } from './debugger.routes';

/** Options of the debugger feature. */
export interface DebuggerOptions {
  /** Base URL of the trace UI (`TRACE_UI_URL`); a trace id is appended to it. */
  traceUiUrl?: string | undefined;
}

/** The built-in debugger: machine export, actor search, timelines and the `/debug` page. */
export function createDebuggerFeature(options: DebuggerOptions = {}): Feature {
  return {
    name: 'debugger',
    routes: (deps) => debuggerRoutes({ registry: deps.runtime.registry, store: deps.store, auth: deps.auth, tokens: deps.tokens, stopping: deps.stopping, traceUiUrl: options.traceUiUrl }),
  };
}
