// On-CPU time of the calling thread (the JS main thread when called from it), read from Linux's
// schedstat. Wall time on a shared 2-core box inflates when lavapipe's workers preempt the main
// thread; this figure counts only the time it actually ran. Null where /proc is absent (macOS).
import { readFileSync } from 'node:fs';

export function threadCpuNs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}
