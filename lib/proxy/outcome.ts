// How a request ended, as the data path counts it: one word per request for
// the statistics (lib/stats/collector.ts lists the same words), the passive
// checks (passive.ts) and observers (observer.ts). On its own so that the
// passive checks need not import the observers, which name the groups.
export type RequestOutcome =
  | 'ok' // a response from the server reached the client (any status)
  | 'refused' // tcpvs answered itself: bad input, 404, 503
  | 'connect-failed' // the server refused or never accepted the connection (502/504 before connect)
  | 'upstream-failed' // the server reset, closed, timed out or sent garbage after the connect
  | 'aborted'; // the client went away first
