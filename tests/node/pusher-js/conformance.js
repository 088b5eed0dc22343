// Drives the official pusher-js client (Node) against an authviz hub.
// Usage: node conformance.js  (env: HUB_PORT, HUB_KEY, HUB_SECRET, HUB_APP_ID)
// Prints one JSON line per step ({"step": ..., ...}) and a final {"done": true} line, or
// {"error": ...} and exits 1. Auth is signed here with the app secret (customHandler), and the
// HTTP API trigger is signed here too, independently of the Python signing code.
'use strict';
const crypto = require('crypto');
const Pusher = require('pusher-js');

const port = Number(process.env.HUB_PORT);
const key = process.env.HUB_KEY;
const secret = process.env.HUB_SECRET;
const appId = process.env.HUB_APP_ID;
const hmac = (s) => crypto.createHmac('sha256', secret).update(s).digest('hex');
const report = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (msg) => { report({ error: String(msg) }); process.exit(1); };
setTimeout(() => fail('timed out after 20 s'), 20000).unref();

function client(userId) {
  return new Pusher(key, {
    wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'],
    cluster: 'local', disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        if (channelName.startsWith('presence-')) {
          const channelData = JSON.stringify({ user_id: userId, user_info: { name: userId } });
          cb(null, { auth: `${key}:${hmac(`${socketId}:${channelName}:${channelData}`)}`,
                     channel_data: channelData });
        } else {
          cb(null, { auth: `${key}:${hmac(`${socketId}:${channelName}`)}` });
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, cb) => {
        const userData = JSON.stringify(
          userId === 'js-a' ? { id: userId, watchlist: ['js-b'] } : { id: userId });
        cb(null, { auth: `${key}:${hmac(`${socketId}::user::${userData}`)}`, user_data: userData });
      },
    },
  });
}

async function trigger(channel, name, data) {
  const path = `/apps/${appId}/events`;
  const body = JSON.stringify({ name, channel, data: JSON.stringify(data) });
  const params = {
    auth_key: key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0',
    body_md5: crypto.createHash('md5').update(body).digest('hex'),
  };
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const signature = hmac(`POST\n${path}\n${query}`);
  const res = await fetch(`http://127.0.0.1:${port}${path}?${query}&auth_signature=${signature}`,
    { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  if (res.status !== 200) fail(`trigger answered ${res.status}: ${await res.text()}`);
}

const once = (target, event) => new Promise((resolve) => target.bind(event, function handler(d) {
  target.unbind(event, handler); resolve(d);
}));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const a = client('js-a');
  const b = client('js-b');
  await Promise.all([once(a.connection, 'connected'), once(b.connection, 'connected')]);
  report({ step: 'connected', a: a.connection.socket_id, b: b.connection.socket_id });

  const pubA = a.subscribe('public-js');
  const privA = a.subscribe('private-js');
  const privB = b.subscribe('private-js');
  const presA = a.subscribe('presence-js');
  await Promise.all([pubA, privA, privB, presA].map((c) => once(c, 'pusher:subscription_succeeded')));
  const memberAdded = once(presA, 'pusher:member_added');
  const presB = b.subscribe('presence-js');
  const presence = await once(presB, 'pusher:subscription_succeeded');
  const added = await memberAdded;
  report({ step: 'subscribed', presence_count: presence.count, member_added: added.id,
           members_seen_by_a: presA.members.count });

  const got = once(pubA, 'server-event');
  await trigger('public-js', 'server-event', { n: 1 });
  report({ step: 'triggered', data: await got });

  const echoed = [];
  privA.bind('client-hello', (d) => echoed.push(d));
  const clientEvent = once(privB, 'client-hello');
  privA.trigger('client-hello', { from: 'a' });
  const received = await clientEvent;
  await sleep(300);
  report({ step: 'client_event', received, echoed: echoed.length });

  const toUser = new Promise((resolve) => a.user.bind('to-user', resolve));
  a.signin();
  await a.user.signinDonePromise;
  await sleep(200); // let pusher-js subscribe to its #server-to-user channel
  await trigger('#server-to-user-js-a', 'to-user', { hi: 'a' });
  report({ step: 'server_to_user', data: await toUser });

  const online = new Promise((resolve) => a.user.watchlist.bind('online', resolve));
  b.signin();
  report({ step: 'watchlist_online', user_ids: (await online).user_ids });

  const removed = once(presA, 'pusher:member_removed');
  const offline = new Promise((resolve) => a.user.watchlist.bind('offline', resolve));
  b.disconnect();
  report({ step: 'member_removed', id: (await removed).id });
  report({ step: 'watchlist_offline', user_ids: (await offline).user_ids });
  a.disconnect();
  report({ done: true });
  process.exit(0);
}

main().catch(fail);
