// Names runbook defines in every template context. A variable cannot take one (not in -e, play
// vars, inventory vars, register or set_fact): it would either be silently ignored (runbook's value
// wins) or silently change what every playbook means, so it is refused with a clear error.
export const BUILTIN_NAMES = ['cluster', 'member', 'host', 'groups', 'hosts', 'hostvars', 'inventory_hostname', 'run', 'secrets'] as const;

const SET = new Set<string>(BUILTIN_NAMES);

export function isBuiltinName(name: string): boolean {
  return SET.has(name);
}

export function builtinNameMessage(name: string, where: string): string {
  return `"${name}" is a built-in name and cannot be set ${where}`;
}

export const BUILTIN_HINT = `runbook sets ${BUILTIN_NAMES.join(', ')} itself; use another variable name`;
