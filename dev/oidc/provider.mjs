// A real OpenID Connect provider for the collector's sign-in tests and `borne demo`: panva's oidc-provider
// (certified by the OpenID Foundation), configured like ProConnect: authorization code with PKCE, ID tokens
// and userinfo signed (RS256 or ES256), ProConnect's claims, each its own scope, and RP-initiated logout.
//
// Everything comes from a JSON file named by the first argument (never a default secret):
//   {"port": 0, "client_id": "...", "client_secret_env": "NAME_OF_AN_ENV_VAR",
//    "redirect_uris": [...], "post_logout_redirect_uris": [...],
//    "id_token_signed_response_alg": "RS256", "userinfo_signed_response_alg": "RS256",
//    "people": {"login": {"email": "...", "given_name": "...", ...}}}
// The login page is oidc-provider's development one: type a person's login (a key of "people") and any
// password. Prints `ready <issuer>` once listening; stops on SIGTERM.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";

import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const secret = process.env[config.client_secret_env || ""];
if (!secret) {
  console.error(`provider: the client secret is read from $${config.client_secret_env}, which is empty`);
  process.exit(2);
}

// Fresh keys at every start: nothing to keep, nothing to leak.
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
const PROCONNECT_CLAIMS = ["email", "given_name", "usual_name", "siret", "uid", "idp_id", "organizational_unit",
  "belonging_population", "phone", "chorusdt"];

const server = http.createServer();
await new Promise((resolve) => server.listen(config.port || 0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: secret,
    redirect_uris: config.redirect_uris,
    post_logout_redirect_uris: config.post_logout_redirect_uris || [],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    id_token_signed_response_alg: config.id_token_signed_response_alg || "RS256",
    userinfo_signed_response_alg: config.userinfo_signed_response_alg || undefined,
  }],
  jwks: { keys: [{ ...rsa, kid: "rsa-" + randomBytes(4).toString("hex"), use: "sig", alg: "RS256" },
    { ...ec, kid: "ec-" + randomBytes(4).toString("hex"), use: "sig", alg: "ES256" }] },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  pkce: { required: () => true },
  scopes: ["openid", "email", "profile", ...PROCONNECT_CLAIMS],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name"],
    ...Object.fromEntries(PROCONNECT_CLAIMS.filter((c) => c !== "email").map((c) => [c, [c]])),
  },
  features: {
    devInteractions: { enabled: true },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // The programme's own client: no consent screen, as with ProConnect.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(" ") : "openid");
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const person = (config.people || {})[id];
    if (!person) return undefined;
    return {
      accountId: id,
      // The subject is the login: oidc-provider's sessions know the account by it.
      async claims() { return { email_verified: true, ...person, sub: id }; },
    };
  },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
});
provider.on("server_error", (ctx, err) => console.error("provider error:", err));
server.on("request", provider.callback());
console.log(`ready ${issuer}`);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("SIGINT", () => server.close(() => process.exit(0)));
