// The official `openai` npm client against `lingualinked serve`: if it can talk to us, most
// OpenAI-compatible tooling can. Run by serve_clients.sh with LL_BASE_URL, LL_MODEL, LL_API_KEY.
// Requests name "gpt-4o", as code written for OpenAI does: the server serves one model, accepts
// any name for it (as llama-server does) and answers with the served id (LL_MODEL).
import OpenAI from 'openai';

const baseURL = process.env.LL_BASE_URL;
const model = process.env.LL_MODEL;
const client = new OpenAI({ baseURL, apiKey: process.env.LL_API_KEY, maxRetries: 0, timeout: 60_000 });

let failures = 0;
function check(cond, what, detail = '') {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}${!cond && detail ? ': ' + detail : ''}`);
  if (!cond) failures++;
}

async function expectError(what, fn, status, field, value) {
  try {
    await fn();
    check(false, what, 'no error thrown');
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === status, `${what}: HTTP ${status}`, `${e.status} ${e.message}`);
    if (field) check(e[field] === value, `${what}: ${field} = ${value}`, JSON.stringify(e.error));
  }
}

const greedy = { model: 'gpt-4o', temperature: 0, max_tokens: 24 };
const messages = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'user', content: 'Tell me about a cat.' },
];

const models = await client.models.list();
check(models.data.some((m) => m.id === model), `models.list has ${model}`, JSON.stringify(models.data));

const c = await client.completions.create({ ...greedy, prompt: 'Once upon a time' });
check(c.object === 'text_completion' && typeof c.choices[0].text === 'string', 'completion shape');
check(c.choices[0].text.length > 0, 'completion has text');
check(['stop', 'length'].includes(c.choices[0].finish_reason), 'completion finish_reason');
check(c.model === model, `completion names the served model ${model}`, c.model);
check(c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens, 'completion usage adds up');

let streamed = '';
let finish = null;
let usage = null;
const cs = await client.completions.create({
  ...greedy, prompt: 'Once upon a time', stream: true, stream_options: { include_usage: true },
});
for await (const chunk of cs) {
  if (chunk.choices.length) {
    streamed += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
check(streamed === c.choices[0].text, 'streamed completion equals non-streamed', JSON.stringify([streamed, c.choices[0].text]));
check(finish === c.choices[0].finish_reason, 'streamed finish_reason');
check(usage && usage.completion_tokens === c.usage.completion_tokens, 'stream usage chunk');

const chat = await client.chat.completions.create({ ...greedy, messages });
const answer = chat.choices[0].message.content;
check(chat.object === 'chat.completion' && chat.choices[0].message.role === 'assistant', 'chat shape');
check(typeof answer === 'string' && answer.length > 0, 'chat has content');
check(chat.model === model, `chat names the served model ${model}`, chat.model);

let deltas = '';
let role = null;
const chs = await client.chat.completions.create({ ...greedy, messages, stream: true });
for await (const chunk of chs) {
  const d = chunk.choices[0]?.delta ?? {};
  role = role ?? d.role;
  deltas += d.content ?? '';
}
check(role === 'assistant', 'chat stream starts with the assistant role');
check(deltas === answer, 'streamed chat equals non-streamed', JSON.stringify([deltas, answer]));

const stopAt = answer.slice(Math.floor(answer.length / 2), Math.floor(answer.length / 2) + 2);
if (stopAt.length === 2) {
  const s = await client.chat.completions.create({ ...greedy, messages, stop: [stopAt] });
  check(s.choices[0].message.content === answer.slice(0, answer.indexOf(stopAt)), 'stop string cuts the answer');
  check(s.choices[0].finish_reason === 'stop', 'stop string finish_reason');
}

// Leaving a stream early (break closes the connection) must not wedge the server.
const long = await client.completions.create({ ...greedy, prompt: 'A long tale', max_tokens: 200, stream: true });
let n = 0;
for await (const _ of long) {
  if (++n === 3) break;
}
check(n === 3, 'left the stream after 3 chunks');
const after = await client.completions.create({ ...greedy, prompt: 'After the abort', max_tokens: 4 });
check(after.choices[0].text !== undefined, 'server answers after an aborted stream');

const anyName = await client.completions.create({ ...greedy, model: 'any-name', prompt: 'Once upon a time' });
check(anyName.choices[0].text === c.choices[0].text && anyName.model === model, 'any model name selects the served model');
await expectError('model that is not a string', () => client.completions.create({ ...greedy, model: 5, prompt: 'x' }),
                  400, 'param', 'model');
await expectError('bad max_tokens', () => client.completions.create({ ...greedy, prompt: 'x', max_tokens: -3 }),
                  400, 'param', 'max_tokens');
await expectError('n > 1', () => client.chat.completions.create({ ...greedy, messages, n: 2 }), 400, 'param', 'n');
await expectError('wrong key', () => new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list(), 401,
                  'code', 'invalid_api_key');

if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('openai client: all checks passed');
