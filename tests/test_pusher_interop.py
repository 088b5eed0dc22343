"""Interoperability with Pusher's official Node.js server library and pusher-js's cryptography.

One Node process runs the `pusher` npm package (pusher-http-node, installed with soketi under
tests/node/soketi) and tweetnacl (what pusher-js uses for encrypted channels) over a JSON job
description from Python, and the two sides check each other's signatures and ciphertexts.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from authviz.pusher import (
    authenticate_user,
    authorize_channel,
    decrypt_payload,
    encrypt_payload,
    presence_channel_data,
    shared_secret,
    sign_request,
    verify_channel_auth,
    verify_request,
    verify_user_auth,
    webhook_body,
    webhook_headers,
)

pytestmark = pytest.mark.node

NODE_MODULES = Path(__file__).parent / "node" / "soketi" / "node_modules"
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET = "1234.1234"
MASTER = bytes(range(100, 132))
BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'

NODE_SCRIPT = r"""
const Pusher = require("pusher");
const nacl = require("tweetnacl");
const naclUtil = require("tweetnacl-util");
const job = JSON.parse(require("fs").readFileSync(0, "utf8"));
const pusher = new Pusher({appId: "workshop-app", key: job.key, secret: job.secret,
                           encryptionMasterKeyBase64: job.master_b64});
const out = {};
out.private = pusher.authorizeChannel(job.socket, "private-foobar");
out.presence = pusher.authorizeChannel(job.socket, "presence-foobar",
                                       {user_id: 10, user_info: {name: "Mr. Channels"}});
out.encrypted = pusher.authorizeChannel(job.socket, "private-encrypted-foobar");
out.user = pusher.authenticateUser(job.socket, {id: "12345", user_info: {name: "Ada"}});
out.query = pusher.createSignedQueryString({method: "POST", path: "/apps/workshop-app/events",
                                            body: job.body, params: {info: "user_count"}});
out.get_query = pusher.createSignedQueryString({method: "GET", path: "/apps/workshop-app/channels",
                                                params: {filter_by_prefix: "presence-"}});
const verify = (c) => Pusher.Token ? new Pusher.Token(job.key, job.secret).verify(c.string, c.sig) : null;
out.our_signatures = job.our_signatures.map(verify);
out.webhooks = job.webhooks.map((w) => pusher.webhook({headers: w.headers, rawBody: w.body}).isValid());
// pusher-js opens encrypted events with the base64 shared_secret of the auth response.
out.opened = job.sealed.map((s) => {
  const p = JSON.parse(s.payload);
  const plain = nacl.secretbox.open(naclUtil.decodeBase64(p.ciphertext), naclUtil.decodeBase64(p.nonce),
                                    naclUtil.decodeBase64(s.shared_secret));
  return plain === null ? null : naclUtil.encodeUTF8(plain);
});
// ...and pusher-http-node seals them with its own channelSharedSecret.
const nonce = nacl.randomBytes(24);
const box = nacl.secretbox(naclUtil.decodeUTF8(job.plaintext), nonce,
                           pusher.channelSharedSecret("private-encrypted-foobar"));
out.sealed_by_node = JSON.stringify({nonce: naclUtil.encodeBase64(nonce), ciphertext: naclUtil.encodeBase64(box)});
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node() -> dict:
    """Run the Node side once with everything Python prepared; return its answers."""
    if shutil.which("node") is None or not (NODE_MODULES / "pusher").is_dir():
        pytest.skip("needs Node.js and `make node` (tests/node/soketi/node_modules/pusher)")
    enc_auth = authorize_channel(KEY, SECRET, SOCKET, "private-encrypted-foobar", encryption_master_key=MASTER)
    secret = shared_secret("private-encrypted-foobar", MASTER)
    good_body = webhook_body([{"name": "channel_occupied", "channel": "presence-room"}])
    headers = {k.lower(): v for k, v in webhook_headers(KEY, SECRET, good_body).items()}
    private = authorize_channel(KEY, SECRET, SOCKET, "private-foobar")["auth"].split(":")[1]
    job = {
        "key": KEY,
        "secret": SECRET,
        "socket": SOCKET,
        "master_b64": base64.b64encode(MASTER).decode(),
        "body": BODY.decode(),
        "plaintext": '{"message":"héllo 🙂"}',
        "our_signatures": [
            {"string": f"{SOCKET}:private-foobar", "sig": private},
            {"string": f"{SOCKET}:private-foobaz", "sig": private},
        ],
        "webhooks": [
            {"headers": headers, "body": good_body.decode()},
            {"headers": headers, "body": good_body.decode().replace("room", "roon")},
            {"headers": {**headers, "x-pusher-key": "other"}, "body": good_body.decode()},
        ],
        "sealed": [
            {"payload": encrypt_payload('{"message":"héllo 🙂"}', secret), "shared_secret": enc_auth["shared_secret"]},
            {
                "payload": encrypt_payload("x", shared_secret("private-encrypted-other", MASTER)),
                "shared_secret": enc_auth["shared_secret"],
            },
        ],
    }
    proc = subprocess.run(
        ["node", "-e", NODE_SCRIPT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_MODULES.parent,
        env={"NODE_PATH": str(NODE_MODULES), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"answers": json.loads(proc.stdout), "enc_auth": enc_auth, "ran_at": time.time()}


def test_channel_authorization_agrees(node: dict) -> None:
    theirs = node["answers"]
    assert authorize_channel(KEY, SECRET, SOCKET, "private-foobar") == theirs["private"]
    ours = authorize_channel(
        KEY, SECRET, SOCKET, "presence-foobar", channel_data=presence_channel_data(10, {"name": "Mr. Channels"})
    )
    assert ours == theirs["presence"]
    assert verify_channel_auth(
        KEY, SECRET, SOCKET, "presence-foobar", theirs["presence"]["auth"], theirs["presence"]["channel_data"]
    )
    assert node["enc_auth"] == theirs["encrypted"]  # auth and shared_secret, both as text


def test_user_authentication_agrees(node: dict) -> None:
    theirs = node["answers"]["user"]
    assert verify_user_auth(KEY, SECRET, SOCKET, theirs["user_data"], theirs["auth"])
    assert authenticate_user(KEY, SECRET, SOCKET, {"id": "12345", "user_info": {"name": "Ada"}}) == theirs


def test_node_signed_requests_verify(node: dict) -> None:
    answers = node["answers"]
    post = dict(parse_qsl(answers["query"], keep_blank_values=True))
    assert post["info"] == "user_count" and "body_md5" in post
    verify_request(SECRET, "POST", "/apps/workshop-app/events", post, BODY, now=node["ran_at"])
    ours = sign_request(
        KEY,
        SECRET,
        "POST",
        "/apps/workshop-app/events",
        {"info": "user_count"},
        BODY,
        timestamp=int(post["auth_timestamp"]),
    )
    assert ours == post
    get = dict(parse_qsl(answers["get_query"], keep_blank_values=True))
    assert "body_md5" not in get  # like ours, Node sends no body_md5 without a body
    verify_request(SECRET, "GET", "/apps/workshop-app/channels", get, b"", now=node["ran_at"])


def test_node_verifies_our_signatures_and_webhooks(node: dict) -> None:
    answers = node["answers"]
    assert answers["our_signatures"] == [True, False]
    assert answers["webhooks"] == [True, False, False]


def test_encryption_interoperates(node: dict) -> None:
    answers = node["answers"]
    assert answers["opened"] == ['{"message":"héllo 🙂"}', None]
    secret = base64.b64decode(node["enc_auth"]["shared_secret"])
    assert decrypt_payload(answers["sealed_by_node"], secret) == '{"message":"héllo 🙂"}'
