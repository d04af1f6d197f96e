// The control and state parts of an Events object's engine, started: the defaults for the parts
// not given, the router on the control channel, and closing both.
import { type ControlChannel, LocalControl } from './control.js';
import { ControlRouter } from './control-router.js';
import { MemoryState, type SharedState } from './state.js';

/** What features above the log use: control messages by topic and the shared state. */
export interface RunningEngine {
  readonly control: ControlRouter;
  readonly state: SharedState;
  /** Whether control and state were given (shared by processes) rather than this process's defaults. */
  readonly shared: boolean;
  close(): Promise<void>;
}

export function startEngine(
  parts: { control: ControlChannel | undefined; state: SharedState | undefined },
  report: (error: Error) => void,
): RunningEngine {
  const channel = parts.control ?? new LocalControl();
  const state = parts.state ?? new MemoryState();
  const control = new ControlRouter(channel, report);
  try {
    const started = channel.start(control);
    if (started !== undefined) {
      Promise.resolve(started).catch((err: unknown) =>
        report(err instanceof Error ? err : new Error(String(err))),
      );
    }
  } catch (err) {
    report(err instanceof Error ? err : new Error(String(err)));
  }
  return {
    control,
    state,
    shared: parts.control !== undefined && parts.state !== undefined,
    // The same object may be given as both (one engine implementing both): close it once.
    close: async () => {
      const closing: Promise<void>[] = [channel.close()];
      if ((state as object) !== channel) closing.push(state.close());
      await Promise.all(closing);
    },
  };
}
