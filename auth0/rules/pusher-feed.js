/**
 * Auth0 Rule (LEGACY: Rules are closed to new tenants and reach end of life in November 2026;
 * use auth0/actions/post-login-pusher.js instead).
 *
 * The realtime-feed tutorial's Rule: on channel "auth0", "user-signedUp" the first time a user
 * logs in (then app_metadata.signedUp is set), "user-loggedIn" afterwards; the payload is the
 * user profile plus `country` (context.request.geoip.country_name).
 *
 * Settings (Rules > Settings): PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET, PUSHER_CLUSTER.
 * A failure to publish never blocks the login.
 */
function pusherFeed(user, context, callback) {
  const Pusher = require("pusher@5.1.0");
  const pusher = new Pusher({
    appId: configuration.PUSHER_APP_ID,
    key: configuration.PUSHER_KEY,
    secret: configuration.PUSHER_SECRET,
    cluster: configuration.PUSHER_CLUSTER || "mt1",
    useTLS: true,
  });

  user.app_metadata = user.app_metadata || {};
  const geoip = (context.request && context.request.geoip) || {};
  const signUp = !user.app_metadata.signedUp;
  const payload = Object.assign({}, user, {
    country: geoip.country_name || null,
    app_metadata: signUp ? {} : { signedUp: true },
  });

  function publish() {
    pusher
      .trigger("auth0", signUp ? "user-signedUp" : "user-loggedIn", payload)
      .catch(function (error) {
        console.log("authviz: could not publish: " + (error && error.message));
      })
      .then(function () {
        callback(null, user, context);
      });
  }

  if (!signUp) return publish();
  user.app_metadata.signedUp = true;
  auth0.users
    .updateAppMetadata(user.user_id, user.app_metadata)
    .then(publish)
    .catch(function (error) {
      console.log("authviz: could not record the sign-up: " + (error && error.message));
      publish();
    });
}
