// runbook validate FILE... [-i INVENTORY]: every problem at once, exit 2 when there is any.
import { readInputText } from '../load/limits.js';
import { inventoryKind } from '../inventory/ansible-parse.js';
import type { Diagnostic } from '../model/diagnostics.js';
import { loadPlaybook } from '../validate/playbook.js';
import { MODULES } from '../modules/registry.js';
import { buildPlan, loadInventoryOnly, playbookFile, resolvePlaybookPath } from './inputs.js';
import { checkRegisterOrder } from '../validate/semantic.js';
import { formatDiagnostics, sortDiagnostics } from '../report/diagnostics-text.js';
import { EXIT, type Io } from '../model/io.js';

/** An inventory is a mapping with `cluster:`, or an Ansible inventory (INI or YAML); a playbook is a list of plays. */
function looksLikeInventory(path: string): boolean {
  // Read within the input limits (never a FIFO, a device or a huge file); what cannot be read is
  // reported when the file is loaded as a playbook.
  const r = readInputText(path);
  return r.text !== undefined && (/^cluster:/m.test(r.text) || inventoryKind(path, r.text).kind !== 'runbook');
}

/** `--format json` of validate: versioned like every JSON runbook prints (README "JSON output"). */
export const VALIDATE_FORMAT = 'runbook-validate/1';

/** One GitHub workflow command per problem: an annotation on that file and line of the pull request. */
export function githubAnnotations(ds: Diagnostic[]): string {
  // Workflow command syntax: properties escape % \r \n , : and the message % \r \n.
  const prop = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/:/g, '%3A').replace(/,/g, '%2C');
  const msg = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return sortDiagnostics(ds)
    .map((d) => {
      const level = d.severity === 'error' ? 'error' : 'warning';
      const body = `[${d.code}] ${d.message}${d.hint ? `\nhint: ${d.hint}` : ''}`;
      return `::${level} file=${prop(d.file)},line=${d.line},col=${d.col},title=${prop(`runbook ${d.code}`)}::${msg(body)}\n`;
    })
    .join('');
}

export function runValidate(files: string[], opts: { inventory?: string; format?: string }, io: Io): number {
  if (files.length === 0 && !opts.inventory) {
    // "ok: 0 file(s) valid" would pass a CI step whose glob matched nothing.
    io.err('runbook validate: nothing to validate: give playbooks and/or inventories (e.g. runbook validate playbooks/*.yml -i inventories/prod.yml)\n');
    return EXIT.INVALID;
  }
  const diagnostics: Diagnostic[] = [];
  const texts: Record<string, string> = {};
  let checked = 0;
  const inventories = files.filter((f) => looksLikeInventory(f));
  if (opts.inventory) inventories.push(opts.inventory);
  for (const inv of [...new Set(inventories)]) {
    const r = loadInventoryOnly(inv);
    diagnostics.push(...r.diagnostics);
    Object.assign(texts, r.texts);
    checked++;
  }
  for (const f of files.filter((x) => !looksLikeInventory(x))) {
    const path = resolvePlaybookPath(f);
    checked++;
    if (opts.inventory) {
      const r = buildPlan({ playbook: path, inventory: opts.inventory });
      // Inventory problems were reported once above.
      diagnostics.push(...r.diagnostics.filter((d) => d.file !== opts.inventory));
      Object.assign(texts, r.texts);
    } else {
      const r = loadPlaybook(playbookFile(path), MODULES, path);
      diagnostics.push(...r.diagnostics);
      if (r.playbook && r.source) diagnostics.push(...checkRegisterOrder(r.playbook, r.source));
      if (r.source) texts[r.source.file] = r.source.text;
    }
  }
  const unique = [...new Map(diagnostics.map((d) => [`${d.file}:${d.line}:${d.col}:${d.code}:${d.message}`, d])).values()];
  if (opts.format === 'json') {
    io.out(`${JSON.stringify({ format: VALIDATE_FORMAT, ok: unique.length === 0, files: checked, diagnostics: unique }, null, 2)}\n`);
  } else if (opts.format === 'github') {
    io.out(githubAnnotations(unique));
    if (!unique.length) io.out(`ok: ${checked} file(s) valid\n`);
  } else if (unique.length) {
    io.err(formatDiagnostics(unique, texts));
  } else {
    io.out(`ok: ${checked} file(s) valid\n`);
  }
  return unique.some((d) => d.severity === 'error') ? EXIT.INVALID : EXIT.OK;
}
