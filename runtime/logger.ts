/** The subset of pino's API the runtime logs through, so the app can pass a pino logger. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Writes warn and error as JSON lines to stderr; used when no logger is given. */
export const stderrLogger: Logger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', ...obj, msg })}\n`);
  },
  error(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'error', ...obj, msg })}\n`);
  },
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Lets through at most `perWindow` lines per key per window and reports how many it held back,
 * so a handler failing on every message cannot flood the log.
 */
export class RateLimitedLog {
  private readonly windows = new Map<
    string,
    { start: number; count: number; suppressed: number }
  >();

  constructor(
    private readonly logger: Logger,
    private readonly perWindow = 10,
    private readonly windowMs = 10_000,
  ) {}

  warn(key: string, obj: object, msg: string): void {
    const now = Date.now();
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: now, count: 0, suppressed: 0 };
      this.windows.set(key, w);
      if (suppressed > 0) this.logger.warn({ key, suppressed }, 'log lines suppressed');
      if (this.windows.size > 10_000) this.windows.clear();
    }
    if (w.count < this.perWindow) {
      w.count += 1;
      this.logger.warn(obj, msg);
    } else {
      w.suppressed += 1;
    }
  }
}
