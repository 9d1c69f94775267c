// Secret values never leave the executor: every text it emits (commands, output, messages,
// registered values) passes through a Redactor first. Matching is the reporters' (redact/redact.ts),
// so a value is caught in the same forms (shell-quoted, JSON-escaped, per line) everywhere.
import type { Json } from '../model/types.js';
import { makeRedactor, redactJson } from '../redact/redact.js';

export class Redactor {
  private redact: (s: string) => string;
  private readonly known: string[];

  constructor(secrets: Iterable<string>) {
    this.known = [...secrets].filter((s) => s.length > 0);
    this.redact = makeRedactor(this.known);
  }

  /** A secret made during the run (a presigned URL): masked from now on like the inventory's. */
  add(secret: string): void {
    if (secret.length === 0 || this.known.includes(secret)) return;
    this.known.push(secret);
    this.redact = makeRedactor(this.known);
  }

  text(s: string): string {
    return this.redact(s);
  }

  json(v: Json): Json {
    return redactJson(v, this.redact);
  }
}

/** The last `max` characters of a text, marked when cut. */
export function tail(s: string, max = 4096): string {
  return s.length <= max ? s : `…${s.slice(s.length - max)}`;
}
