// How a shared backend's parts report failures: every one to the part's own `onError` option, and
// the first of an outage also to the namespace (the Events' `'error'`), so an outage is one error
// there, not one per retry. Neither handler may break the part that reports.

/** A part's failure reporting (see `outageReport()`). */
export interface OutageReport {
  /** A failure: to `onError` always, to the namespace when it starts an outage. */
  report(err: unknown): void;
  /** The part works again: its next failure starts a new outage. */
  recovered(): void;
}

export function outageReport(
  onError: (error: Error) => void,
  namespace: () => { report?(error: Error): void } | undefined,
): OutageReport {
  let outage = false;
  return {
    report(err: unknown): void {
      const error = err instanceof Error ? err : new Error(String(err));
      try {
        onError(error);
      } catch {
        // a throwing error handler must not break the reporting part
      }
      if (outage) return;
      outage = true;
      try {
        namespace()?.report?.(error);
      } catch {
        // neither may the namespace's
      }
    },
    recovered(): void {
      outage = false;
    },
  };
}
