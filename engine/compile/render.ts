// Rendering a task's templates for one host: renders of host-independent templates shared across
// hosts, and a deep render of args that reports each template error at its JSON pointer.
import type { Json, JsonObject } from '../model/types.js';
import type { PathSeg } from '../load/source.js';
import { TemplateError, compileTemplate, hasTemplate, renderTemplate } from '../template/env.js';

/**
 * Renders of templates that read only host-independent names (cluster facts, groups, run-time
 * values, extra vars) are the same on every host: render them once. On a 1,000-host plan this
 * turns tens of thousands of Handlebars calls into a few dozen.
 */
export class SharedRenders {
  private readonly rendered = new Map<string, string>();
  constructor(private readonly globalRoots: Set<string>) {}
  render(src: string, ctx: Record<string, unknown>, mode: 'shell' | 'plain'): string {
    if (!hasTemplate(src)) return src;
    if (!compileTemplate(src, mode).paths.every((p) => this.globalRoots.has(p.root))) return renderTemplate(src, ctx, mode);
    const key = `${mode}\u0000${src}`;
    const hit = this.rendered.get(key);
    if (hit !== undefined) return hit;
    const out = renderTemplate(src, ctx, mode);
    this.rendered.set(key, out);
    return out;
  }
  /** A new run-time name (register, set_fact) can change what a shared name means. */
  addGlobal(name: string): void {
    this.globalRoots.add(name);
    this.rendered.clear();
  }
}

export function renderDeep(
  v: Json,
  ctx: Record<string, unknown>,
  mode: 'shell' | 'plain',
  path: string,
  onError: (e: TemplateError, path: string) => void,
  shared?: SharedRenders,
): Json {
  if (typeof v === 'string') {
    try {
      return shared ? shared.render(v, ctx, mode) : renderTemplate(v, ctx, mode);
    } catch (e) {
      if (e instanceof TemplateError) {
        onError(e, path);
        return v;
      }
      throw e;
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => renderDeep(x, ctx, mode, `${path}/${i}`, onError, shared));
  if (v && typeof v === 'object') {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = renderDeep(x, ctx, mode, `${path}/${k}`, onError, shared);
    return out;
  }
  return v;
}

/** A variable is defined when the context has it as its own key (`constructor`, `toString` are not variables). */
export function own(ctx: Record<string, unknown>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(ctx, name);
}

export function rawAt(data: Json, path: PathSeg[]): unknown {
  let v: unknown = data;
  for (const s of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[String(s)] : undefined;
  return v;
}

export function forEachString(v: unknown, fn: (s: string) => void): void {
  if (typeof v === 'string') fn(v);
  else if (Array.isArray(v)) v.forEach((x) => forEachString(x, fn));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => forEachString(x, fn));
}
