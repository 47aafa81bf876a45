/** `dv ui` as a real process for the tests of test/ui/, and raw HTTP requests to it. */
import { type LocalServer, startServer } from '../helpers/local-server.js';

export { rawRequest } from '../helpers/local-server.js';

/** Starts `dv ui --port 0` in `cwd`; resolves with its URL once it prints the line. */
export function startUi(cwd: string, args: string[] = [], env: Record<string, string> = {}): Promise<LocalServer> {
  return startServer('ui', /^dv ui: (http:\/\/\S+\/)/m, cwd, args, env);
}
