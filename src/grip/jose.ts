// jose 6 is ESM-only. A dynamic import keeps it out of module initialisation, so the CommonJS
// build loads without it and pays for it only on the first Grip-Sig check or JWT publish.
export type Jose = typeof import('jose');

let loading: Promise<Jose> | undefined;

export function loadJose(): Promise<Jose> {
  loading ??= import('jose').catch((err: unknown) => {
    loading = undefined; // let a later call try again
    throw err;
  });
  return loading;
}
