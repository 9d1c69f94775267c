// Limits on what runbook reads (README "Input limits"): a file or document that would make runbook
// hang, exhaust memory or crash is refused like any other bad input — exit 2, file:line:col, hint.
// Every check here is linear in the input and none recurses on it (a deep document must not
// overflow the stack of the check meant to refuse it).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAlias, isMap, isPair, isSeq, type Document, type LineCounter, type Node as YNode } from 'yaml';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { SourceRef } from '../model/types.js';

export const INPUT_LIMITS = {
  /** Bytes in a playbook, inventory or -e @file (20,000 tasks are about 2.5 MB). */
  fileBytes: 8 * 1024 * 1024,
  /** Nesting of mappings and lists (runbook's own files nest about 8 deep). */
  depth: 64,
  /** Alias nodes (*name) in one file. */
  aliases: 100,
  /** Nodes that aliases stand for, counted as if written out (what a "billion laughs" file inflates). */
  aliasExpansion: 10_000,
  /** Tasks in one playbook, all plays together. */
  tasks: 25_000,
  /** Hosts in one inventory. */
  hosts: 10_000,
  /** Bytes in a saved plan (plan.json; a 1,000-member restore plan is a few MiB). */
  planBytes: 256 * 1024 * 1024,
} as const;

const MiB = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;

/** Line and column (1-based, in characters) of a character offset, without a LineCounter. */
function lineColOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/** The first byte sequence that is not UTF-8, as a character offset into the (lossily) decoded text; undefined when all is UTF-8. */
function firstInvalidUtf8(buf: Buffer, text: string): number | undefined {
  // The lossy decode puts U+FFFD where bytes are invalid; a U+FFFD really in the file is the bytes EF BF BD.
  let bytes = 0;
  let from = 0;
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) {
    bytes += Buffer.byteLength(text.slice(from, i));
    from = i;
    if (!(buf[bytes] === 0xef && buf[bytes + 1] === 0xbf && buf[bytes + 2] === 0xbd)) return i;
  }
  return undefined;
}

export type ReadResult = { text: string; diagnostics?: undefined } | { text?: undefined; diagnostics: Diagnostic[] };

/**
 * Read an input file as UTF-8 text, refusing what is not a regular file (a FIFO or /dev/zero would
 * block or never end), what is larger than the limit (checked before reading), and bytes that are
 * not UTF-8 (they were silently replaced) or look like UTF-16.
 */
export function readInputText(file: string, displayPath = file): ReadResult {
  const at = (line = 1, col = 1): SourceRef => ({ file: displayPath, line, col });
  const refuse = (message: string, hint: string, line = 1, col = 1): ReadResult => ({ diagnostics: [diag('input-limit', message, at(line, col), { hint })] });
  let fd: number;
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { diagnostics: [diag('file-not-found', code === 'ENOENT' ? `no such file: ${displayPath}` : `cannot read ${displayPath}: ${String(code)}`, at())] };
  }
  let buf: Buffer;
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      return refuse(`${displayPath} is not a regular file`, 'runbook reads playbooks and inventories from regular files (not directories, pipes or devices)');
    if (st.size > INPUT_LIMITS.fileBytes) {
      return refuse(
        `${displayPath} is ${MiB(st.size)}, more than the limit of ${MiB(INPUT_LIMITS.fileBytes)}`,
        'split it into smaller playbooks or inventories (README "Input limits")',
      );
    }
    // Read at most one byte past the limit: a file that grows while it is read is still bounded.
    buf = Buffer.alloc(Math.min(st.size, INPUT_LIMITS.fileBytes) + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > INPUT_LIMITS.fileBytes)
      return refuse(`${displayPath} grew past the limit of ${MiB(INPUT_LIMITS.fileBytes)} while it was read`, 'read a file that is not being written to');
    buf = buf.subarray(0, n);
  } catch (e) {
    return { diagnostics: [diag('file-not-found', `cannot read ${displayPath}: ${String((e as NodeJS.ErrnoException).code ?? e)}`, at())] };
  } finally {
    closeSync(fd);
  }
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
    return refuse(`${displayPath} is UTF-16 (it starts with a UTF-16 byte-order mark)`, 'save the file as UTF-8');
  }
  const text = buf.toString('utf8');
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const p = lineColOf(text, nul);
    const utf16 = buf.length > 1 && (buf[0] === 0 || buf[1] === 0);
    return refuse(
      `a NUL byte${utf16 ? ': the file looks like UTF-16' : ''}; YAML files are text`,
      utf16 ? 'save the file as UTF-8' : 'is this a binary file?',
      p.line,
      p.col,
    );
  }
  const bad = firstInvalidUtf8(buf, text);
  if (bad !== undefined) {
    const p = lineColOf(text, bad);
    return refuse(
      'bytes that are not UTF-8 (is the file Latin-1 or another legacy encoding?)',
      'save the file as UTF-8; runbook does not guess encodings',
      p.line,
      p.col,
    );
  }
  return { text };
}

/**
 * Depth and alias limits of a parsed document: a node nested deeper than the limit, an alias that
 * refers to a node containing it (a cycle), more aliases than the limit, or aliases that together
 * stand for more nodes than the limit. Positions are those of the offending node or alias.
 */
export function checkDocumentLimits(file: string, doc: Document, lineCounter: LineCounter): Diagnostic[] {
  const posOf = (n: { range?: [number, number, number] | null }): SourceRef => {
    const { line, col } = lineCounter.linePos(n.range?.[0] ?? 0);
    return { file, line, col };
  };
  const root = doc.contents;
  if (!root) return [];
  // Walk in document order with an explicit stack: depth first, and each anchor as it is met.
  const anchors = new Map<string, YNode>();
  const aliases: { alias: YNode & { source: string }; target: YNode | undefined }[] = [];
  const children = (n: YNode): YNode[] => {
    if (isMap(n)) return n.items.flatMap((p) => (isPair(p) ? [p.key as YNode, p.value as YNode].filter((x) => x !== null && x !== undefined) : []));
    if (isSeq(n)) return n.items as YNode[];
    return [];
  };
  const stack: { node: YNode; depth: number }[] = [{ node: root, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (depth > INPUT_LIMITS.depth) {
      return [
        diag('input-limit', `nested more than ${INPUT_LIMITS.depth} levels deep`, posOf(node), {
          hint: 'runbook files nest a few levels; this looks generated or corrupt (README "Input limits")',
        }),
      ];
    }
    if (isAlias(node)) {
      aliases.push({ alias: node, target: anchors.get(node.source) });
      if (aliases.length > INPUT_LIMITS.aliases) {
        return [
          diag('input-limit', `more than ${INPUT_LIMITS.aliases} aliases`, posOf(node), {
            length: node.source.length + 1,
            hint: 'write the values out; aliases at this scale look like a resource-exhaustion attack (README "Input limits")',
          }),
        ];
      }
      continue;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, node);
    const kids = children(node);
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i]!, depth: depth + 1 });
  }
  return aliases.length ? checkAliasExpansion(aliases, children, posOf) : [];
}

/** Nodes each alias stands for (memoized per target), refusing cycles and a total over the limit. */
function checkAliasExpansion(
  aliases: { alias: YNode & { source: string }; target: YNode | undefined }[],
  children: (n: YNode) => YNode[],
  posOf: (n: { range?: [number, number, number] | null }) => SourceRef,
): Diagnostic[] {
  const targetOf = new Map(aliases.map((a) => [a.alias, a.target]));
  const size = new Map<YNode, number>();
  // Size of a node: itself, its children, and what its aliases stand for. Iterative post-order;
  // `open` holds the nodes being sized, so an alias to one of them is a cycle.
  const sizeOf = (start: YNode): number | { cycle: YNode } => {
    const open = new Set<YNode>();
    const work: { node: YNode; expanded: boolean }[] = [{ node: start, expanded: false }];
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const n = isAlias(top.node) ? targetOf.get(top.node) : top.node;
      if (n === undefined || size.has(n)) {
        work.pop();
        continue;
      }
      if (!top.expanded) {
        if (open.has(n)) return { cycle: top.node };
        open.add(n);
        top.expanded = true;
        for (const c of children(n)) work.push({ node: c, expanded: false });
        continue;
      }
      let total = 1;
      for (const c of children(n)) {
        const t = isAlias(c) ? targetOf.get(c) : c;
        total += t === undefined ? 1 : (size.get(t) ?? 1);
      }
      size.set(n, Math.min(total, Number.MAX_SAFE_INTEGER));
      open.delete(n);
      work.pop();
    }
    return size.get(isAlias(start) ? (targetOf.get(start) ?? start) : start) ?? 1;
  };
  let expanded = 0;
  for (const { alias, target } of aliases) {
    if (target === undefined) {
      return [
        diag('yaml-syntax', `the alias *${alias.source} names no anchor (&${alias.source}) defined before it`, posOf(alias), {
          length: alias.source.length + 1,
          hint: 'an anchor must come before its aliases',
        }),
      ];
    }
    const s = sizeOf(alias);
    if (typeof s === 'object') {
      return [
        diag('input-limit', `the alias *${alias.source} refers to a node that contains it (a cycle)`, posOf(alias), {
          length: alias.source.length + 1,
          hint: 'an alias must not point at one of its own parents',
        }),
      ];
    }
    expanded += s;
    if (expanded > INPUT_LIMITS.aliasExpansion) {
      return [
        diag('input-limit', `aliases stand for more than ${INPUT_LIMITS.aliasExpansion.toLocaleString('en')} nodes`, posOf(alias), {
          length: alias.source.length + 1,
          hint: 'aliases of aliases multiply; write the values out (README "Input limits")',
        }),
      ];
    }
  }
  return [];
}

/** A count over a limit (tasks, hosts), reported at the first item past it. */
export function overLimit(what: string, count: number, limit: number, at: SourceRef, hint: string): Diagnostic | undefined {
  if (count <= limit) return undefined;
  return diag('input-limit', `${count.toLocaleString('en')} ${what}, more than the limit of ${limit.toLocaleString('en')}`, at, { hint });
}
