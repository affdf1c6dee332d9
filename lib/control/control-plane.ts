// What the admin side (tcpvsadm, the stats page, L4 control) may ask of a
// running tcpvs. Changes go through apply(): the next config is validated
// whole, then applied as a change to what runs (lib/control/registry.ts);
// a refused change leaves the running state untouched.
//
// services() is the control plane's own view, the same whatever the number
// of workers: the addresses it listens on, the connections open in every
// worker, and each server's state read from its shared record.
import type { Config, ServiceSpec } from '../config/model.ts';

export interface ServerView {
  readonly uid: number;
  readonly name: string; // "host:port"
  readonly host: string;
  readonly port: number;
  readonly up: boolean;
  readonly weight: number; // effective
  readonly configuredWeight: number;
  readonly active: number; // requests in flight, every worker's
  readonly total: number; // requests sent, every worker's
}

export interface GroupView {
  readonly name: string;
  readonly scheduler: string;
  readonly servers: readonly ServerView[];
}

export interface ServiceView {
  readonly spec: ServiceSpec;
  /** Where it listens (the bound port when the config says 0); null when not listening. */
  readonly address: { address: string; port: number; family: string } | null;
  /** Client connections open now, every worker's. */
  readonly connections: number;
  readonly groups: readonly GroupView[];
  /** Graceful stop of this service's connections: idle ones close now, busy ones after their response. */
  drainConnections(): void;
}

export interface ControlPlane {
  /** The running configuration. Treat it as read-only: build a modified copy for apply(). */
  config(): Config;
  /** Applies `next` as a change. Rejects (with a ConfigError or the listen error) and changes nothing when it cannot. */
  apply(next: Config, reason: string): Promise<void>;
  /** Re-reads the config file tcpvs was started with (or `path`; or takes `text` as that file's), then apply()s it. */
  reload(path?: string, text?: string): Promise<void>;
  /** The running services. */
  services(): readonly ServiceView[];
  /** Called after every successful apply. */
  onApplied(listener: () => void): void;
}
