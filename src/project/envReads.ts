/**
 * Which environment variables a load and parse read, so the parse snapshot can tell whether a change of
 * environment could change its result. Every `env_var()` (in YAML, the project file, models and macros)
 * reads through `readEnv`.
 */
const recorders = new Set<Set<string>>();

/** `env[name]`, noted by every recording in progress. */
export function readEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  for (const r of recorders) r.add(name);
  return env[name];
}

/**
 * Start noting env var names; the returned function stops and gives them. Recordings may overlap (each
 * sees every read made while it runs).
 *
 * @example
 *   const stop = recordEnvReads();
 *   loadProject(...);
 *   const names = stop(); // Set { 'DBT_SCHEMA', ... }
 */
export function recordEnvReads(): () => Set<string> {
  const names = new Set<string>();
  recorders.add(names);
  return () => {
    recorders.delete(names);
    return names;
  };
}
