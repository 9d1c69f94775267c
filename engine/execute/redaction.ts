// Secret values never leave the executor: every text it emits (commands, output, messages,
// registered values) passes through a Redactor first. Matching is the reporters' (redact/redact.ts),
// so a value is caught in the same forms (shell-quoted, JSON-escaped, per line) everywhere.
import type { Json } from '../model/types.js';
import { makeRedactor, redactJson } from '../redact/redact.js';

export class Redactor {
  private readonly redact: (s: string) => string;

  constructor(secrets: Iterable<string>) {
    this.redact = makeRedactor([...secrets].filter((s) => s.length > 0));
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
