// The agent reply parser (lib/health/agent-reply.ts): HAProxy's agent-check
// words, case-insensitive, the last of a kind winning, the limits.
import t from 'tap';
import { MAX_AGENT_PERCENT, parseAgentReply } from '../../lib/health/agent-reply.ts';

t.test('parseAgentReply reads HAProxy agent replies', async (t) => {
  t.same(parseAgentReply('75%'), { percent: 75, state: null, admin: null, description: '', ignored: [] });
  t.same(parseAgentReply('up, 50% # all good'), { percent: 50, state: 'up', admin: null, description: 'all good', ignored: [] });
  t.match(parseAgentReply('READY'), { state: 'up', admin: 'ready' });
  t.match(parseAgentReply('drain'), { state: null, admin: 'drain', percent: null });
  t.match(parseAgentReply('maint'), { admin: 'maint' });
  for (const word of ['down', 'fail', 'stopped', 'Stopped']) t.match(parseAgentReply(word), { state: 'down' }, word);
  t.match(parseAgentReply('down 10% up'), { state: 'up', percent: 10 }, 'the last word of a kind wins');
  t.match(
    parseAgentReply('75 maxconn:30 up'),
    { percent: null, state: 'up', ignored: ['75', 'maxconn:30'] },
    'a bare number is ignored, as in HAProxy',
  );
  t.match(parseAgentReply('\t 20%,,ready\r'), { percent: 20, admin: 'ready' });
  t.match(parseAgentReply('99999%'), { percent: null, ignored: ['99999%'] });
  t.match(parseAgentReply('# only a description'), { percent: null, state: null, admin: null, description: 'only a description' });
});

t.test('percentages: 0 and the bound are taken, past it and malformed are ignored', async (t) => {
  t.equal(parseAgentReply('0%').percent, 0, '0% is a weight (of 0), not nothing');
  t.equal(parseAgentReply(`${MAX_AGENT_PERCENT}%`).percent, MAX_AGENT_PERCENT);
  t.same(parseAgentReply(`${MAX_AGENT_PERCENT + 1}%`).ignored, [`${MAX_AGENT_PERCENT + 1}%`]);
  t.same(parseAgentReply('100000%').ignored, ['100000%'], 'six digits');
  t.same(parseAgentReply('-5% 5.5% %5 50%%').ignored, ['-5%', '5.5%', '%5', '50%%']);
  t.equal(parseAgentReply('-5% 5.5% %5 50%%').percent, null);
  t.equal(parseAgentReply('10% 20%').percent, 20, 'the last percentage wins');
});

t.test('words: ready ends drain and maint, the last admin word wins, unknown words are kept as sent', async (t) => {
  t.same(parseAgentReply('maint ready'), { percent: null, state: 'up', admin: 'ready', description: '', ignored: [] });
  t.same(parseAgentReply('ready drain'), { percent: null, state: 'up', admin: 'drain', description: '', ignored: [] });
  t.same(parseAgentReply('up down'), { percent: null, state: 'down', admin: null, description: '', ignored: [] });
  t.same(parseAgentReply('MaxConn:30 Foo').ignored, ['MaxConn:30', 'Foo'], 'case kept in what is reported');
  t.same(parseAgentReply(''), { percent: null, state: null, admin: null, description: '', ignored: [] }, 'an empty line says nothing');
  t.same(parseAgentReply('down # disk full # really').description, 'disk full # really', 'the first # starts the description');
  t.equal(parseAgentReply('up#x').state, 'up', '# needs no space before it');
});
