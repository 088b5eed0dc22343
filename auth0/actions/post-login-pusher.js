/**
 * Auth0 Action — trigger "Login / Post Login": publish sign-ups and log-ins to Pusher Channels.
 *
 * The modern form of the realtime-feed tutorial's Rule (Rules reach end of life in November
 * 2026). On channel "auth0" it triggers "user-signedUp" the first time a user logs in and
 * "user-loggedIn" afterwards, with the payload the tutorial's feed reads: the user profile plus
 * `country` (from the request's geoip) and `app_metadata.signedUp` (absent on the sign-up,
 * true afterwards; the feed prints "Sign Up:" / "Log In:" from it).
 *
 * Set-up (Auth0 Dashboard > Actions > Library > Build Custom):
 *   - Dependency: pusher (5.x)
 *   - Secrets: PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET and either PUSHER_CLUSTER (Pusher
 *     Channels, e.g. "eu") or PUSHER_HOST [+ PUSHER_PORT, PUSHER_USE_TLS="false"] (soketi or the
 *     authviz hub).
 *   - Deploy, then add it to the Login flow.
 *
 * A failure to publish never blocks the login: it is logged and the Action returns.
 */
const Pusher = require("pusher");

const FEED_CHANNEL = "auth0";
const SIGNED_UP_EVENT = "user-signedUp";
const LOGGED_IN_EVENT = "user-loggedIn";

/** The Pusher client from the Action's secrets. */
function pusherFromSecrets(secrets) {
  const options = {
    appId: secrets.PUSHER_APP_ID,
    key: secrets.PUSHER_KEY,
    secret: secrets.PUSHER_SECRET,
    useTLS: secrets.PUSHER_USE_TLS !== "false",
  };
  if (secrets.PUSHER_HOST) {
    options.host = secrets.PUSHER_HOST;
    if (secrets.PUSHER_PORT) options.port = secrets.PUSHER_PORT;
  } else {
    options.cluster = secrets.PUSHER_CLUSTER || "mt1";
  }
  return new Pusher(options);
}

/**
 * True on the user's first login (the sign-up): no signedUp flag yet and logins_count 1 (users
 * who existed before the Action was installed have no flag but more logins: not a sign-up).
 */
function isSignUp(event) {
  const appMetadata = (event.user && event.user.app_metadata) || {};
  if (appMetadata.signedUp) return false;
  const count = event.stats && event.stats.logins_count;
  return typeof count !== "number" || count <= 1;
}

/** The tutorial feed payload: the user's profile fields plus country and app_metadata. */
function feedPayload(event, signUp) {
  const user = event.user || {};
  const geoip = (event.request && event.request.geoip) || {};
  return {
    user_id: user.user_id,
    email: user.email,
    email_verified: user.email_verified,
    name: user.name,
    nickname: user.nickname,
    picture: user.picture,
    updated_at: user.updated_at,
    app_metadata: signUp ? {} : { signedUp: true },
    country: geoip.countryName || null,
    country_code: geoip.countryCode || null,
  };
}

exports.onExecutePostLogin = async (event, api) => {
  const signUp = isSignUp(event);
  if (!((event.user && event.user.app_metadata) || {}).signedUp) {
    // Remember the sign-up, as the tutorial's Rule did with app_metadata.signedUp.
    api.user.setAppMetadata("signedUp", true);
  }
  const name = signUp ? SIGNED_UP_EVENT : LOGGED_IN_EVENT;
  try {
    await pusherFromSecrets(event.secrets || {}).trigger(FEED_CHANNEL, name, feedPayload(event, signUp));
  } catch (error) {
    console.log(`authviz: could not publish ${name}: ${error && error.message}`);
  }
};

// For tests (Auth0 ignores extra exports).
exports.feedPayload = feedPayload;
exports.isSignUp = isSignUp;
