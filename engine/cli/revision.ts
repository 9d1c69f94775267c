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
import { buildPlan, resolvePlaybookPath, SHIPPED, type Loaded, type PlanRequest } from './inputs.js';
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

/** Replace the copy's path prefix in every string of a value (keys included). */
function unmirrorDeep<T>(v: T, from: string, to: string): T {
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return x.split(from).join(to);
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [walk(k), walk(y)]));
    return x;
  };
  return walk(v) as T;
}

function failed(d: Diagnostic): RevisionLoaded {
  return { diagnostics: [d], texts: {}, realPath: (p) => p };
}

/** The top of the git repository holding `file` (found from the file's own directory), or undefined. */
function repositoryOf(file: string): string | undefined {
  const dir = dirname(realish(resolve(file)));
  if (!existsSync(dir)) return undefined;
  const r = git(['rev-parse', '--show-toplevel'], dir);
  return r.ok ? realpathSync(r.out.toString('utf8').trim()) : undefined;
}

/** Files read from the working tree on both sides (not compared): shipped playbooks, ignored files. */
export interface NotCompared {
  path: string;
  why: string;
}

/** The repository and commit `--base REV` compares with, or the failure to report (nothing was read). */
function revisionOf(rev: string, req: PlanRequest, playbookPath: string): { realTop: string; sha: string } | RevisionLoaded {
  const at = { file: '--base', line: 1, col: 1 };
  // A bare name (backup) means the playbook shipped with this runbook: the same on both sides.
  const shipped = playbookPath.startsWith(SHIPPED);
  const candidates = [req.inventory, ...(shipped ? [] : [playbookPath])];
  const tops = candidates.map((f) => ({ file: f, top: repositoryOf(f) }));
  const realTop = tops.find((t) => t.top !== undefined)?.top;
  if (realTop === undefined)
    return failed(
      diag(
        'git-error',
        `--base ${rev}: ${candidates.join(' and ')} ${candidates.length > 1 ? 'are' : 'is'} not in a git repository: there is nothing to compare`,
        at,
        {
          hint: 'commit the inventory and playbook to a repository, or compare saved plans (runbook diff OLD.json NEW.json)',
        },
      ),
    );
  const elsewhere = tops.filter((t) => t.top !== undefined && t.top !== realTop);
  if (elsewhere.length)
    return failed(
      diag(
        'git-error',
        `--base ${rev}: ${elsewhere.map((t) => `${t.file} is in the repository ${t.top ?? ''}`).join('; ')}, ` +
          `the inventory in ${realTop}: one --base compares one repository`,
        at,
        { hint: 'keep the playbook next to the inventory, or compare saved plans rendered in each repository (runbook diff OLD.json NEW.json)' },
      ),
    );
  const commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], realTop);
  if (!commit.ok)
    return failed(
      diag('git-error', `--base ${rev}: no such revision in ${realTop}`, at, { hint: 'fetch it first (in CI: actions/checkout with fetch-depth: 0)' }),
    );
  return { realTop, sha: commit.out.toString('utf8').trim() };
}

/**
 * The temporary copy the plan is compiled in. It mirrors absolute paths (<tmp>/<repository path>),
 * so a path relative to the current directory means the same file in the copy whether or not
 * runbook runs inside the repository.
 */
class RevisionMirror {
  readonly scratch: string;
  readonly mirror: string;
  readonly mirrorCwd: string;
  readonly notCompared: NotCompared[] = [];
  private readonly ignoredCache = new Map<string, boolean>();

  constructor(
    readonly rev: string,
    readonly realTop: string,
    readonly sha: string,
    readonly realCwd: string,
  ) {
    this.scratch = realpathSync(mkdtempSync(join(tmpdir(), 'runbook-base-')));
    this.mirror = join(this.scratch, realTop);
    this.mirrorCwd = join(this.scratch, realCwd);
  }

  inRepo(abs: string): string | undefined {
    const rel = relative(this.realTop, abs);
    return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? undefined : rel.split(sep).join('/');
  }

  ignored(rel: string): boolean {
    let v = this.ignoredCache.get(rel);
    if (v === undefined) {
      v = git(['check-ignore', '-q', '--', rel], this.realTop).ok;
      this.ignoredCache.set(rel, v);
    }
    return v;
  }

  showAt(rel: string): Buffer | undefined {
    const r = git(['show', `${this.sha}:${rel}`], this.realTop);
    return r.ok ? r.out : undefined;
  }

  /** Maps a path inside the copy back to the working tree. */
  readonly realPath = (p: string): string => {
    const rel = relative(this.mirror, p);
    return rel.startsWith('..') || isAbsolute(rel) ? p : join(this.realTop, rel);
  };

  /** Put one input file into the copy; returns the path to compile with, or a diagnostic. */
  materialize(p: string): string | Diagnostic {
    if (p.startsWith(SHIPPED)) {
      this.notCompared.push({ path: p, why: 'shipped with runbook' });
      return p;
    }
    const abs = realish(resolve(this.realCwd, p));
    const rel = this.inRepo(abs);
    if (rel === undefined) {
      this.notCompared.push({ path: p, why: `outside ${this.realTop}` });
      return abs;
    }
    const dest = join(this.mirror, rel);
    mkdirSync(dirname(dest), { recursive: true });
    if (this.ignored(rel)) {
      this.notCompared.push({ path: p, why: 'ignored by git' });
      if (existsSync(abs)) copyFileSync(abs, dest);
    } else {
      const content = this.showAt(rel);
      if (content === undefined)
        return diag(
          'not-in-revision',
          `${rel} does not exist at ${this.rev}`,
          { file: p, line: 1, col: 1 },
          { hint: 'a file that is new on this branch has no base to compare with' },
        );
      writeFileSync(dest, content);
    }
    if (isAbsolute(p)) return dest;
    return resolve(this.mirrorCwd, p) === dest ? p : relative(this.mirrorCwd, dest);
  }

  /** An Ansible inventory also reads group_vars/, host_vars/ and runbook-cluster.yml beside it: as they were at REF too. */
  copyInventorySiblings(inventory: string): void {
    const invRel = this.inRepo(realish(resolve(this.realCwd, inventory)));
    if (invRel === undefined || this.ignored(invRel)) return;
    const at = invRel.includes('/') ? `${invRel.slice(0, invRel.lastIndexOf('/'))}/` : '';
    const ls = git(['ls-tree', '-r', '--name-only', this.sha, '--', `${at}group_vars`, `${at}host_vars`, `${at}${CLUSTER_FILE}`], this.realTop);
    for (const rel of ls.ok ? ls.out.toString('utf8').split('\n').filter(Boolean) : []) {
      const content = this.showAt(rel);
      if (content === undefined) continue;
      mkdirSync(dirname(join(this.mirror, rel)), { recursive: true });
      writeFileSync(join(this.mirror, rel), content);
    }
  }

  /** Files the compiler reads later (template sources) come from the revision too. */
  readonly readFile = (path: string): string => {
    const abs = resolve(path);
    const rel = relative(this.mirror, abs);
    if (rel.startsWith('..') || isAbsolute(rel)) return readFileSync(abs, 'utf8');
    const repoRel = rel.split(sep).join('/');
    if (this.ignored(repoRel)) return readFileSync(join(this.realTop, rel), 'utf8');
    const content = this.showAt(repoRel);
    if (content === undefined) throw new Error(`${repoRel} does not exist at ${this.rev}`);
    return content.toString('utf8');
  };

  /** Absolute paths into the copy read as the working-tree paths they stand for. */
  unmirror(p: string): string {
    return p.startsWith(this.mirror + sep) ? join(this.realTop, p.slice(this.mirror.length + 1)) : p;
  }

  remove(): void {
    rmSync(this.scratch, { recursive: true, force: true });
  }
}

/**
 * load → validate → compile with every repository file read as it is at `rev`. The repository is the
 * one holding the inventory (else the playbook), found from the file's own directory, wherever runbook
 * runs from; an input in another repository is refused, never read from disk on both sides.
 */
export function buildPlanAtRevision(rev: string, req: PlanRequest): RevisionLoaded & { notCompared: NotCompared[] } {
  const cwd = process.cwd();
  const playbookPath = resolvePlaybookPath(req.playbook);
  const found = revisionOf(rev, req, playbookPath);
  if ('diagnostics' in found) return { ...found, notCompared: [] };
  const m = new RevisionMirror(rev, found.realTop, found.sha, realpathSync(cwd));
  const { realPath, notCompared } = m;

  try {
    const problems: Diagnostic[] = [];
    const take = (p: string): string => {
      const r = m.materialize(p);
      if (typeof r === 'string') return r;
      problems.push(r);
      return p;
    };
    const playbook = take(playbookPath);
    const inventory = take(req.inventory);
    m.copyInventorySiblings(req.inventory);
    const extraVars = (req.extraVars ?? []).map((e) => (e.startsWith('@') ? `@${take(e.slice(1))}` : e));
    if (problems.length) return { diagnostics: problems, texts: {}, realPath, notCompared };

    mkdirSync(m.mirrorCwd, { recursive: true });
    process.chdir(m.mirrorCwd);
    let loaded: Loaded;
    try {
      loaded = buildPlan({ ...req, playbook, inventory, extraVars, readFile: m.readFile });
    } finally {
      process.chdir(cwd);
    }
    // Every string of the plan: controller paths and connection settings resolved inside the copy too,
    // also those outside the repository (the copy mirrors every absolute path below scratch).
    if (loaded.plan) loaded.plan = unmirrorDeep(loaded.plan, m.scratch + sep, sep);
    const texts = Object.fromEntries(Object.entries(loaded.texts).map(([k, v]) => [m.unmirror(k), v]));
    return { ...loaded, diagnostics: loaded.diagnostics.map((d) => ({ ...d, file: m.unmirror(d.file) })), texts, realPath, notCompared };
  } finally {
    m.remove();
  }
}
