// A server group's shared words: the version the control plane bumps after
// it changed any of the group's servers' status or weight (each data path
// compares it once per request and refreshes its copy when it moved), and
// chbl's pick counter for its request-count decay.

export const G_VERSION = 0;
export const G_PICKS = 1;
const GROUP_WORDS = 16; // one cache line

export function createGroupShare(): SharedArrayBuffer {
  return new SharedArrayBuffer(GROUP_WORDS * 4);
}
