// Controller-side paths in plans are relative to the working directory, so a plan (and a golden
// file) does not depend on where a checkout lives.
import { isAbsolute, relative } from 'node:path';

export function controllerPath(p: string): string {
  if (!isAbsolute(p)) return p;
  const rel = relative(process.cwd(), p);
  return rel.startsWith('..') || isAbsolute(rel) ? p : rel || '.';
}
