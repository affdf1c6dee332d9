// What an agent's line says, read as HAProxy reads agent-check replies:
// words separated by commas, spaces or tabs, case-insensitive, and an
// optional description after `#`.
//
//   NN%                    weight: NN percent of the configured weight (a bare number is ignored, as in HAProxy)
//   up | ready             the agent's state is up; `ready` also ends drain and maint
//   down | fail | stopped  the agent's state is down
//   drain                  weight 0 without marking down (quiescent)
//   maint                  down until a later `ready`
//
// Other words (HAProxy's `maxconn:N`, anything unknown) are ignored. When a
// line repeats a kind, the last word wins.

export interface AgentReply {
  percent: number | null;
  state: 'up' | 'down' | null;
  admin: 'ready' | 'drain' | 'maint' | null;
  description: string; // after `#`, trimmed
  ignored: string[]; // words that meant nothing to tcpvs
}

/** Percentages above this are typos; HAProxy bounds the weight they give (256) instead. */
export const MAX_AGENT_PERCENT = 10_000;

const PERCENT_RE = /^(\d{1,5})%$/;

export function parseAgentReply(line: string): AgentReply {
  const hash = line.indexOf('#');
  const words = (hash === -1 ? line : line.slice(0, hash)).split(/[\s,]+/);
  const reply: AgentReply = {
    percent: null,
    state: null,
    admin: null,
    description: hash === -1 ? '' : line.slice(hash + 1).trim(),
    ignored: [],
  };
  for (const raw of words) {
    if (raw === '') continue;
    const word = raw.toLowerCase();
    const percent = PERCENT_RE.exec(word);
    if (percent !== null && Number(percent[1]) <= MAX_AGENT_PERCENT) {
      reply.percent = Number(percent[1]);
      continue;
    }
    switch (word) {
      case 'up':
        reply.state = 'up';
        break;
      case 'ready':
        reply.state = 'up';
        reply.admin = 'ready';
        break;
      case 'down':
      case 'fail':
      case 'stopped':
        reply.state = 'down';
        break;
      case 'drain':
      case 'maint':
        reply.admin = word;
        break;
      default:
        reply.ignored.push(raw);
    }
  }
  return reply;
}
