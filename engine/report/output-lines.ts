// Streamed output arrives in arbitrary chunks; a secret can straddle two of them. Reporters only
// print whole lines (redacted as a whole), keeping the unfinished part until the next chunk or the
// step's end.

export interface OutputLine {
  stepId: string;
  host: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** A line longer than this without a newline is let out anyway. */
const MAX_PARTIAL = 64 * 1024;

export class LineSplitter {
  private readonly partial = new Map<string, { host: string; stepId: string; stream: 'stdout' | 'stderr'; text: string }>();

  feed(stepId: string, host: string, stream: 'stdout' | 'stderr', text: string): OutputLine[] {
    const key = `${stepId}\u0000${stream}`;
    const buffered = (this.partial.get(key)?.text ?? '') + text;
    const parts = buffered.split('\n');
    let rest = parts.pop() ?? '';
    const lines = parts.map((l) => ({ stepId, host, stream, line: l.replace(/\r$/, '') }));
    if (rest.length > MAX_PARTIAL) {
      lines.push({ stepId, host, stream, line: rest });
      rest = '';
    }
    if (rest) this.partial.set(key, { host, stepId, stream, text: rest });
    else this.partial.delete(key);
    return lines;
  }

  /** The unfinished lines of one step (at its end), or of every step. */
  flush(stepId?: string): OutputLine[] {
    const out: OutputLine[] = [];
    for (const [key, p] of this.partial) {
      if (stepId !== undefined && p.stepId !== stepId) continue;
      out.push({ stepId: p.stepId, host: p.host, stream: p.stream, line: p.text.replace(/\r$/, '') });
      this.partial.delete(key);
    }
    return out;
  }
}
