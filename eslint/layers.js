// The runbook/layers lint rule (used by eslint.config.js, tested by test/unit/layers-lint.test.ts).
import { dirname, relative, resolve, sep } from 'node:path';

// The layers of engine/, bottom to top (README "Layout"). A folder imports only from layers below
// its own (or from itself); folders on one line are one layer and do not import each other.
// A local rule rather than import-x/no-restricted-paths or dependency-cruiser: the order is one
// list here (no pairwise zones to keep in step), it needs no new dependency, and it also refuses
// re-exports of another folder's names.
const LAYERS = [
  ['model'],
  ['shell', 'redact', 'package', 'tls'], // pure helpers: shell quoting, redaction, package paths, certificate checks
  ['load'],
  ['template'],
  ['validate'],
  ['inventory'],
  ['modules'],
  ['compile'],
  ['transports', 'remote'], // hosts over SSH; snapshot storage (S3)
  ['execute'],
  ['report', 'schedule'], // what a run prints and records; scheduler units rendered for a playbook
  ['diff'],
  ['cli'],
];
const ENGINE = resolve(import.meta.dirname, '..', 'engine');
const rank = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i])));

/** The engine/ folder a path lies in, or undefined outside engine/. */
function folderOf(path) {
  const rel = relative(ENGINE, path);
  if (rel.startsWith('..') || rel === '') return undefined;
  return rel.split(sep)[0];
}

export const layersRule = {
  meta: { type: 'problem', schema: [], docs: { description: 'imports in engine/ follow the layer order' } },
  create(context) {
    const file = context.filename;
    const from = folderOf(file);
    if (from === undefined) return {};
    const importedFrom = new Map(); // local name → folder it was imported from
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return undefined;
      const to = folderOf(resolve(dirname(file), spec));
      if (to === undefined || to === from) return to;
      if (!rank.has(from)) context.report({ node, message: `engine/${from} is not in the layer list (eslint.config.js LAYERS)` });
      else if (!rank.has(to)) context.report({ node, message: `engine/${to} is not in the layer list (eslint.config.js LAYERS)` });
      else if (rank.get(to) >= rank.get(from)) {
        context.report({ node, message: `engine/${from} may not import from engine/${to}: it is not a lower layer (README "Layout")` });
      }
      return to;
    };
    return {
      ImportDeclaration(node) {
        const to = check(node, node.source.value);
        if (to !== undefined && to !== from) for (const s of node.specifiers) importedFrom.set(s.local.name, to);
      },
      ImportExpression(node) {
        if (node.source.type === 'Literal') check(node, node.source.value);
      },
      ExportAllDeclaration(node) {
        check(node, node.source.value);
        context.report({ node, message: 'no re-exports: import from the file that defines the name' });
      },
      ExportNamedDeclaration(node) {
        if (node.source) {
          const to = check(node, node.source.value);
          if (to !== from) context.report({ node, message: `no re-exports of another folder's names (engine/${to})` });
          return;
        }
        for (const s of node.specifiers) {
          const to = importedFrom.get(s.local.name);
          if (to !== undefined) context.report({ node: s, message: `"${s.local.name}" comes from engine/${to}: import it from there, do not re-export it` });
        }
      },
    };
  },
};
