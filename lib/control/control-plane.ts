// What the admin side (tcpvsadm, the stats page, health checks) may ask of a
// running tcpvs. Changes go through apply(): the next config is validated
// whole, then swapped in with requests in flight finishing on the old one; a
// refused change leaves the running state untouched.
import type { Config } from '../config/model.ts';
import type { ServiceRuntime } from '../proxy/service.ts';

export interface ControlPlane {
  /** The running configuration. Treat it as read-only: build a modified copy for apply(). */
  config(): Config;
  /** Hot-swaps to `next`. Rejects (with a ConfigError or the listen error) and changes nothing when it cannot. */
  apply(next: Config, reason: string): Promise<void>;
  /** Re-reads the config file tcpvs was started with (or `path`), then apply()s it. */
  reload(path?: string): Promise<void>;
  /** The services of the current generation. */
  services(): readonly ServiceRuntime[];
  /** Called after every successful apply, with the new services (health checks restart on them). */
  onApplied(listener: (services: readonly ServiceRuntime[]) => void): void;
}
