// Render a plan from the files as they are at a git revision, without a checkout: each input is
// read with `git show REV:path` into a temporary copy of the repository layout, and the plan is
// compiled from there (so relative paths inside the inventory resolve as they would in a checkout
// of REV). Files outside the repository, and ignored files (an installed runbook's shipped
// playbooks), are the same on both sides and are read from disk.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { buildPlan, resolvePlaybookPath, type Loaded, type PlanRequest } from './inputs.js';
import { CLUSTER_FILE } from '../inventory/ansible.js';

export interface RevisionLoaded extends Loaded {
  /** Maps a path inside the temporary copy back to the working tree (for secret files). */
  realPath: (p: string) => string;
}

interface GitResult {
  ok: boolean;
  out: Buffer;
  err: string;
}

function git(args: string[], cwd: string): GitResult {
  const r = spawnSync('git', args, { cwd, maxBuffer: 1 << 28 });
  if (r.error) return { ok: false, out: Buffer.alloc(0), err: r.error.message };
  return { ok: r.status === 0, out: r.stdout, err: r.stderr.toString('utf8').trim() };
}

function realish(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    try {
      return join(realpathSync(dirname(p)), basename(p));
    } catch {
      return p;
    }
  }
}

function failed(d: Diagnostic): RevisionLoaded {
  return { diagnostics: [d], texts: {}, realPath: (p) => p };
}

/** load → validate → compile with every repository file read as it is at `rev`. */
export function buildPlanAtRevision(rev: string, req: PlanRequest): RevisionLoaded {
  const at = { file: '--base', line: 1, col: 1 };
  const cwd = process.cwd();
  const top = git(['rev-parse', '--show-toplevel'], cwd);
  if (!top.ok)
    return failed(
      diag('git-error', `--base ${rev}: ${top.err || `${cwd} is not inside a git repository`}`, at, {
        hint: 'run runbook diff --base from inside the repository that holds the inventory',
      }),
    );
  const realTop = realpathSync(top.out.toString('utf8').trim());
  const commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], realTop);
  if (!commit.ok)
    return failed(
      diag('git-error', `--base ${rev}: no such revision in ${realTop}`, at, { hint: 'fetch it first (in CI: actions/checkout with fetch-depth: 0)' }),
    );
  const sha = commit.out.toString('utf8').trim();
  const realCwd = realpathSync(cwd);

  const mirror = realpathSync(mkdtempSync(join(tmpdir(), 'runbook-base-')));
  const mirrorCwd = join(mirror, relative(realTop, realCwd));
  const inRepo = (abs: string): string | undefined => {
    const rel = relative(realTop, abs);
    return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? undefined : rel.split(sep).join('/');
  };
  const ignoredCache = new Map<string, boolean>();
  const ignored = (rel: string): boolean => {
    let v = ignoredCache.get(rel);
    if (v === undefined) {
      v = git(['check-ignore', '-q', '--', rel], realTop).ok;
      ignoredCache.set(rel, v);
    }
    return v;
  };
  const showAt = (rel: string): Buffer | undefined => {
    const r = git(['show', `${sha}:${rel}`], realTop);
    return r.ok ? r.out : undefined;
  };
  const realPath = (p: string): string => {
    const rel = relative(mirror, p);
    return rel.startsWith('..') || isAbsolute(rel) ? p : join(realTop, rel);
  };

  /** Put one input file into the copy; returns the path to compile with, or a diagnostic. */
  const materialize = (p: string): string | Diagnostic => {
    const abs = realish(resolve(realCwd, p));
    const rel = inRepo(abs);
    if (rel === undefined) return abs;
    const dest = join(mirror, rel);
    mkdirSync(dirname(dest), { recursive: true });
    if (ignored(rel)) {
      if (existsSync(abs)) copyFileSync(abs, dest);
    } else {
      const content = showAt(rel);
      if (content === undefined)
        return diag(
          'not-in-revision',
          `${rel} does not exist at ${rev}`,
          { file: p, line: 1, col: 1 },
          { hint: 'a file that is new on this branch has no base to compare with' },
        );
      writeFileSync(dest, content);
    }
    if (isAbsolute(p)) return dest;
    return resolve(mirrorCwd, p) === dest ? p : relative(mirrorCwd, dest);
  };

  try {
    const problems: Diagnostic[] = [];
    const take = (p: string): string => {
      const r = materialize(p);
      if (typeof r === 'string') return r;
      problems.push(r);
      return p;
    };
    const playbook = take(resolvePlaybookPath(req.playbook));
    const inventory = take(req.inventory);
    // An Ansible inventory also reads group_vars/, host_vars/ and runbook-cluster.yml beside it: as they were at REF too.
    const invRel = inRepo(realish(resolve(realCwd, req.inventory)));
    if (invRel !== undefined && !ignored(invRel)) {
      const at = invRel.includes('/') ? `${invRel.slice(0, invRel.lastIndexOf('/'))}/` : '';
      const ls = git(['ls-tree', '-r', '--name-only', sha, '--', `${at}group_vars`, `${at}host_vars`, `${at}${CLUSTER_FILE}`], realTop);
      for (const rel of ls.ok ? ls.out.toString('utf8').split('\n').filter(Boolean) : []) {
        const content = showAt(rel);
        if (content === undefined) continue;
        mkdirSync(dirname(join(mirror, rel)), { recursive: true });
        writeFileSync(join(mirror, rel), content);
      }
    }
    const extraVars = (req.extraVars ?? []).map((e) => (e.startsWith('@') ? `@${take(e.slice(1))}` : e));
    if (problems.length) return { diagnostics: problems, texts: {}, realPath };

    // Files the compiler reads later (template sources) come from the revision too.
    const readFile = (path: string): string => {
      const abs = resolve(path);
      const rel = relative(mirror, abs);
      if (rel.startsWith('..') || isAbsolute(rel)) return readFileSync(abs, 'utf8');
      const repoRel = rel.split(sep).join('/');
      if (ignored(repoRel)) return readFileSync(join(realTop, rel), 'utf8');
      const content = showAt(repoRel);
      if (content === undefined) throw new Error(`${repoRel} does not exist at ${rev}`);
      return content.toString('utf8');
    };
    mkdirSync(mirrorCwd, { recursive: true });
    process.chdir(mirrorCwd);
    let loaded: Loaded;
    try {
      loaded = buildPlan({ ...req, playbook, inventory, extraVars, readFile });
    } finally {
      process.chdir(cwd);
    }
    // Absolute paths into the copy read as the working-tree paths they stand for.
    const unmirror = (p: string): string => (p.startsWith(mirror + sep) ? join(realTop, p.slice(mirror.length + 1)) : p);
    if (loaded.plan) {
      loaded.plan.playbook = unmirror(loaded.plan.playbook);
      loaded.plan.inventory = unmirror(loaded.plan.inventory);
      loaded.plan.inputs = loaded.plan.inputs.map((i) => ({ ...i, path: unmirror(i.path) }));
    }
    const texts = Object.fromEntries(Object.entries(loaded.texts).map(([k, v]) => [unmirror(k), v]));
    return { ...loaded, diagnostics: loaded.diagnostics.map((d) => ({ ...d, file: unmirror(d.file) })), texts, realPath };
  } finally {
    rmSync(mirror, { recursive: true, force: true });
  }
}
