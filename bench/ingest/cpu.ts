/**
 * CPU accounting for one measured round: where the machine's two cores went (this process, the
 * publisher, Mosquitto, this run's PostgreSQL backends, and everything else on the machine).
 * Linux /proc only; elsewhere the figures are absent.
 */
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

/** Garbage-collection pause time of this process (main thread), ms, since the first call. */
let gcMs = 0;
let gcObserver: PerformanceObserver | undefined;
export function gcPauseMs(): number {
  if (gcObserver === undefined) {
    gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcMs += e.duration;
    });
    gcObserver.observe({ entryTypes: ['gc'] });
  }
  return gcMs;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of a process, ms (0 when it is gone or /proc is missing). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Busy and total CPU time of the whole machine (all cores), ms. */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export interface CpuSplit {
  /** Wall time of the round, ms. */
  readonly wallMs: number;
  /** CPU ms per part during the round; `other` is the rest of the machine's busy time. */
  readonly ms: Record<string, number>;
  /** Cores the machine had busy on average (busy / wall). */
  readonly busyCores: number;
}

/** Samples the given processes now; `end()` returns their CPU during the interval. */
export function cpuSampler(pids: () => Record<string, number | number[] | undefined>) {
  const read = () => {
    const out: Record<string, number> = {};
    for (const [name, p] of Object.entries(pids())) {
      out[name] = Array.isArray(p)
        ? p.reduce((a, x) => a + processCpuMs(x), 0)
        : name === 'self'
          ? selfCpuMs()
          : processCpuMs(p);
    }
    return out;
  };
  const t0 = performance.now();
  const m0 = machineCpuMs();
  const p0 = read();
  return {
    end(extra: Record<string, number> = {}): CpuSplit {
      const wallMs = performance.now() - t0;
      const m1 = machineCpuMs();
      const p1 = read();
      const ms: Record<string, number> = {};
      let accounted = 0;
      for (const name of Object.keys(p1)) {
        const d = Math.max(0, (p1[name] ?? 0) - (p0[name] ?? 0));
        ms[name] = Math.round(d);
        accounted += d;
      }
      for (const [name, v] of Object.entries(extra)) {
        ms[name] = Math.round(v);
        accounted += v;
      }
      const busy = m1.busy - m0.busy;
      ms.other = Math.max(0, Math.round(busy - accounted));
      return { wallMs, ms, busyCores: Math.round((busy / wallMs) * 100) / 100 };
    },
  };
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
